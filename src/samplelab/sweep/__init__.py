"""Running studies: ensemble planning, the runner, executors (process, workers, Ray) and n* refinement."""
