"""Every zoo architecture builds and runs; counts match torchvision (and, where there is none, the paper)."""

import random

import pytest
import torch
import torchvision

import searchspace as ss
from searchspace import zoo

NAMES = zoo.names()
TORCHVISION = [n for n in NAMES if zoo.info(n).torchvision]


def torchvision_model(name: str, device: str = "meta") -> torch.nn.Module:
    kw = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
    with torch.device(device):
        return getattr(torchvision.models, name)(**kw)


@pytest.mark.parametrize("name", NAMES)
def test_builds_and_infers_shapes_at_its_input_size(name):
    e = zoo.info(name)
    g = zoo.get(name)
    plan = ss.validate(g, e.in_channels, e.num_classes, e.input_size)
    assert plan.stages[-1].size[0] >= 1
    with torch.device("meta"):
        out = ss.build(g, e.in_channels, e.num_classes)(torch.empty(2, e.in_channels, e.input_size, e.input_size))
    assert tuple(out.shape) == (2, e.num_classes)


@pytest.mark.parametrize("name", NAMES)
def test_runs_forward_and_backward_on_cpu(name):
    e = zoo.info(name)
    size = min(e.input_size, 64) if e.input_size > 32 else e.input_size
    model = ss.build(zoo.get(name), e.in_channels, 10).train()
    out = model(torch.randn(2, e.in_channels, size, size))
    out.logsumexp(1).mean().backward()
    assert out.shape == (2, 10) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", TORCHVISION)
def test_parameter_count_equals_torchvision(name):
    e = zoo.info(name)
    theirs = sum(p.numel() for p in torchvision_model(e.torchvision).parameters())
    assert ss.count_params(zoo.get(name), 3, 1000) == theirs


@pytest.mark.parametrize("name", [n for n in NAMES if zoo.info(n).params])
def test_parameter_count_matches_the_reference(name):
    e = zoo.info(name)
    assert ss.count_params(zoo.get(name), e.in_channels, e.num_classes) == e.params


def test_vgg_table_matches_the_paper_in_millions():
    paper = {"vgg_a": 133, "vgg_a_lrn": 133, "vgg_b": 133, "vgg_c": 134, "vgg_d": 138, "vgg_e": 144}
    for name, millions in paper.items():
        assert round(ss.count_params(zoo.get(name), 3, 1000) / 1e6) == millions, name


def test_randwire_small_regime_is_close_to_the_paper():
    params, flops = ss.complexity(zoo.get("randwire_ws_small"), 3, 1000, 224)
    assert abs(params - 5.6e6) / 5.6e6 < 0.03  # paper: 5.6M parameters
    assert abs(flops / 2 - 583e6) / 583e6 < 0.03  # paper: 583M multiply-adds ("FLOPs")


@pytest.mark.parametrize("name", ["resnet18", "resnext50_32x4d", "vgg11_bn", "alexnet", "densenet121", "googlenet"])
def test_same_function_as_torchvision_with_its_weights(name):
    """Copy torchvision's weights in parameter order; the outputs must agree."""
    torch.manual_seed(0)
    theirs = torchvision_model(name, "cpu").eval()
    ours = ss.build(zoo.get(name), 3, 1000).eval()
    src = [(k, v) for k, v in theirs.state_dict().items() if not k.endswith("num_batches_tracked")]
    dst = [k for k in ours.state_dict() if not k.endswith("num_batches_tracked")]
    assert [v.shape for _, v in src] == [ours.state_dict()[k].shape for k in dst]
    ours.load_state_dict({k: v for k, (_, v) in zip(dst, src, strict=True)}, strict=False)
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["resnet18_cifar", "vgg_d_cifar", "densenet121_cifar", "randwire_ws_small_cifar"])
def test_zoo_genotypes_are_members_of_the_default_space_and_mutate(name):
    space = ss.SearchSpace(input_size=32)
    g = space.validate(zoo.get(name))
    rng = random.Random(0)
    for _ in range(5):
        child = space.mutate(g, rng)
        assert child.fingerprint() != g.fingerprint()
        g = child


def test_unknown_name_lists_known_ones():
    with pytest.raises(KeyError, match="resnet50"):
        zoo.get("resnet9000")
