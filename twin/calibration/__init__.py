"""Calibration of the interface model from measured cells, and parameter uncertainty in answers.

* ``data``: the measured-cell format (process record joined by cell id to the outcomes measured
  later), validated per row and column; ``twin run`` / ``twin hil`` write its process side;
* ``observe``: the likelihood of each outcome type under the interface model;
* ``fit``: maximum likelihood with Wald, profile or bootstrap intervals, or an emcee posterior;
* ``identify``: which parameters the data cannot pin (Fisher information, profile flatness);
* ``paramfile``: the calibrated parameter file a scenario references (``quality.params``);
* ``propagate``: parameter draws per outer replication, apart from simulation noise;
* ``check``: predictions against held-out cells; ``synth``: data from known parameters;
* ``plots``: the calibration and model-check pages.

Nothing here is imported by a plain run unless its scenario references a parameter file.
"""
