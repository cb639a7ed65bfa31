"""What the lifecycle tells the rest of this process, once a change is committed.

The web path changes jobs through the services and never imports the engine or the runtime;
a runtime that runs scans in this process subscribes here instead, to claim a newly queued
job at once or to stop its thread for a job that is no longer its to run.
"""

from django.dispatch import Signal

# Sent after commit with job_id, library_id and status (the status the job moved to).
job_changed = Signal()
