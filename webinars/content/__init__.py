"""News, articles, interviews and publications: content items, topic pages, the listing and Atom feeds."""
