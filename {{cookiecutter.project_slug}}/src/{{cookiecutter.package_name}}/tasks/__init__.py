"""Background jobs with Celery: the app (app.py), the jobs (jobs.py), the API's queue (queue.py),
the worker's metrics (metrics.py) and the `celery -A ...tasks.worker` entry point (worker.py)."""
