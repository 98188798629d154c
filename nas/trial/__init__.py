"""One trial: the training itself (on a `nas.data.DataSplits`), and what it measures besides accuracy.

- `train`: one genotype, one dataset, one config -> metrics and weights (or your ``train_fn``);
- `clock`: where the trial's time went, its ``phases`` (`nas.record.row.PHASES`);
- `proxies`: zero-cost proxies, scores of the untrained network;
- `inherit`: a child's weights from its parent's, where they fit;
- `latency`: inference latency on the device the trial runs on.

An engine (`nas.engines`) runs these in a worker; none of them knows about the search around it.
"""
