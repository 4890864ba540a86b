"""The organisers' area: sign-in, webinars, registrations, newsletter, audit."""
