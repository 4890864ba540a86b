"""Webinars, topics, speakers and partners: the public catalogue."""
