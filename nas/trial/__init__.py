"""One trial: the data it trains on, the training itself, and what it measures besides accuracy.

- `train`: one genotype, one dataset, one config -> metrics and weights (or your ``train_fn``);
- `data`: the built-in datasets (digits, MNIST, CIFAR, image folders, synthetic), whole in memory;
- `owndata`: your own arrays, tensors or Datasets as a search's dataset (`nas.dataset`);
- `proxies`: zero-cost proxies, scores of the untrained network;
- `inherit`: a child's weights from its parent's, where they fit;
- `latency`: inference latency on the device the trial runs on.

An engine (`nas.engines`) runs these in a worker; none of them knows about the search around it.
"""
