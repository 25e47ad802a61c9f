"""A model loaded for a `JobSpec`: the one way every caller gets the model a job runs."""

from __future__ import annotations

from tilescope.engine.inference import job as engine_job
from tilescope.engine.inference.job import JobResult, JobSpec
from tilescope.engine.inference.progress import CancelToken, ProgressListener
from tilescope.plugins.base import ModelType
from tilescope.plugins.catalog import load_model


def load_job_model(spec: JobSpec, threads: int | None = None) -> ModelType:
    """The spec's model with its parameter overrides checked and applied.

    Raises `ManifestError`/`UnknownModelTypeError` for a bad model and `InputError` for a
    parameter the model does not have or a value out of range. The ONNX session is made on
    first use; `threads` overrides the spec's.
    """
    model = load_model(spec.model, device=spec.device, threads=threads or spec.threads)
    model.set_parameters(spec.parameters)
    return model


def run_job(
    spec: JobSpec,
    progress: ProgressListener | None = None,
    cancel: CancelToken | None = None,
    *,
    model: ModelType | None = None,
) -> JobResult:
    """Run one job: the CLI, the cluster task, the GUI and the API all come through here.

    `model` is the spec's model already loaded (a batch loads it once for all its slides);
    by default it is loaded here.
    """
    return engine_job.run_job(spec, model or load_job_model(spec), progress, cancel)
