"""One trial: the training itself (on a `nas.data.DataSplits`), and what it measures besides accuracy.

- `train`: one genotype, one dataset, one config -> metrics and weights (or your ``train_fn``);
- `contract`: what your ``train_fn`` is told (`TrialContext`) and may report and return (`own_metrics`);
- `images`: the training images on the device, whole or streamed, augmented there, and the batch sizes;
- `devices`: the trial's device resolved, its memory measured and freed, out-of-memory failures told apart;
- `clock`: where the trial's time went, its ``phases`` (`nas.record.row.PHASES`);
- `proxies`: zero-cost proxies, scores of the untrained network;
- `inherit`: a child's weights from its parent's, where they fit;
- `latency`: inference latency on the device the trial runs on;
- `watchdog`: a trial in a thread, ended as ``timeout`` once it runs past its hang limit.

An engine (`nas.engines`) runs these in a worker; none of them knows about the search around it.
"""
