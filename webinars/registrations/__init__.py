"""Registration for a webinar: capacity, waitlist, confirmation, self-service cancellation."""
