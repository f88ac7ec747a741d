"""The checks of a self-organizing map (`som`): E324 placement and decoder, E306 for bce,
E308 for som_maps, and W423 from the training-example count known at check time."""

from __future__ import annotations

import pytest
from frontend import check, codes, only, spec

from aespec.data import natural_count


def som_spec(bottleneck: str = "som(4, 4)", data: str = "", decoder: str = "mirror",
             after: str = "loss mse") -> str:
    return spec(encoder="flatten", bottleneck=bottleneck, decoder=decoder,
                input="image(1, 8, 8)", before=data, after=after)


@pytest.mark.parametrize(("source", "args", "count"), [
    ("digits", {}, 1437),  # the 80/20 split of 1,797
    ("digits", {"normal": 3}, None),  # the normal classes' share is not known
    ("mnist", {}, 60_000),
    ("fashion_mnist", {"limit": 500}, 500),
    ("mnist", {"path": "mine.npz"}, None),
    ("synthetic", {"n": 100}, 80),
    ("npy", {"path": "x.npy"}, None),
])
def test_the_training_examples_are_counted_without_reading_a_file(source, args, count):
    assert natural_count(source, args) == count


def test_a_grid_wider_than_the_training_set_warns_w423():
    warned = only(check(som_spec("som(40, 40)", "data digits")), "W423")
    assert "1,600 units" in warned.message and "1,437" in warned.message
    assert "W423" not in codes(check(som_spec("som(10, 10)", "data digits")))
    assert "W423" in codes(check(som_spec("som(12, 12)", "data synthetic(n=100)")))
    assert "W423" not in codes(check(som_spec("som(40, 40)")))  # no data line: not known


def test_the_mirror_puts_no_activation_after_the_prototype():
    result = check(som_spec())
    assert codes(result) == []
    assert result.ir is not None
    decoder = [result.ir.nodes[n].op for n in result.ir.order
               if result.ir.nodes[n].block == "decoder"]
    assert decoder == ["prototype", "reshape"]


def test_bce_on_a_prototype_is_e306_naming_the_som():
    found = only(check(som_spec(after="loss bce")), "E306")
    assert "prototype" in found.message and found.hint and "mse" in found.hint


@pytest.mark.parametrize(("bottleneck", "decoder", "says"), [
    ("som(4, 4)", "dense(64) sigmoid", "decoder mirror"),
    ("som(4, 4)\ndense(8)", "mirror", "must end the bottleneck"),
    ("som(4, 4)\nsom(3, 3)", "mirror", "one som"),
    ("gaussian(8)\nsom(4, 4)", "mirror", "gaussian"),
    ("som(4, 4)", "mirror(output=sigmoid)", "prototype"),
])
def test_a_misplaced_or_misdecoded_som_is_e324(bottleneck, decoder, says):
    found = only(check(som_spec(bottleneck, decoder=decoder)), "E324")
    assert says in found.message + (found.hint or "")


def test_som_maps_without_a_som_is_e308_at_check_time():
    source = spec(decoder="mirror", after="loss mse\nreport {\n    som_maps\n}")
    assert "som_maps needs a som" in only(check(source), "E308").message


def test_the_ops_listing_says_who_makes_the_ops_no_spec_writes():
    from aespec.cli.reference import render_ops

    listing = render_ops()
    assert "(only in: )" not in listing
    for name in ("prototype", "rbm_visible"):
        row = next(line for line in listing.splitlines() if line.startswith(f"| `{name}("))
        assert "made by `decoder mirror`" in row
