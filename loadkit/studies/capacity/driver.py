"""Old home of the step driver; it is :mod:`loadkit.studies.driver`, shared by every study."""

from loadkit.studies.driver import StepDriver, StepMeasure

__all__ = ["StepMeasure", "StepDriver"]
