"""gunicorn settings for production (the README's command):

    gunicorn -c python:webinars.gunicorn_conf -w 4 --threads 2 -b 127.0.0.1:8000 'webinars:create_app()'

The access log goes to stdout with the request's id (the X-Request-ID the app answers with), and
gunicorn's access and error logs never show a token from a link in an email (webinars/logs.py).
"""

logger_class = "webinars.logs.GunicornLogger"
accesslog = "-"
# Client, time, request line, status, bytes, duration in milliseconds, and the app's request id.
access_log_format = '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'
