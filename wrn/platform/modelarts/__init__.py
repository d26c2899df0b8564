"""ModelArts training jobs: a YAML job definition (`spec`) -> the v2 request (`request`) -> the API (`api`); the
code folder the job runs from (`upload`)."""
