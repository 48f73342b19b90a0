import numpy as np
import pytest
import torch

from circuitlab.analysis import cka_by_layer, mean_residuals, representation_similarity


def test_cka_by_layer_hand_computed():
    x = torch.tensor([[0.0], [1.0], [2.0]])
    y = torch.tensor([[0.0], [1.0], [4.0]])
    # one feature each: CKA is the squared Pearson correlation = (x·y)^2 / (|x|^2 |y|^2) after centring = 12/13
    out = cka_by_layer(torch.stack([x, x]), torch.stack([y, 3 * x + 1]), layers=[4, 7], n_shuffles=3, seed=0)
    assert out["layer"].tolist() == [4, 7]
    assert out["cka"].tolist() == pytest.approx([12 / 13, 1.0])
    assert out["cka_shuffled"].between(0, 1).all()
    assert out.attrs == {"n": 3, "n_shuffles": 3, "seed": 0}


def test_shuffled_pairing_sits_below_the_true_pairing():
    rng = np.random.default_rng(0)
    a = torch.as_tensor(rng.normal(size=(1, 40, 8)))
    b = a @ torch.as_tensor(np.linalg.qr(rng.normal(size=(8, 8)))[0])  # a rotation of a: CKA 1
    out = cka_by_layer(a, b, n_shuffles=10, seed=3)
    assert out["cka"].item() == pytest.approx(1.0)
    assert out["cka_shuffled"].item() < 0.5
    with pytest.raises(ValueError, match="same n_layers and n"):
        cka_by_layer(a, b[:, :30])


@pytest.fixture(scope="module")
def gpt2():
    from circuitlab.models import load_model

    return load_model("tiny-gpt2")


TEXTS = ["a b c d e", "hello", "the cat sat on the mat", "x y"]


def test_mean_residuals_exclude_padding_and_special_tokens(gpt2):
    batched = mean_residuals(gpt2, TEXTS, batch_size=4, progress=False)
    assert batched.shape == (gpt2.geometry.n_layers, len(TEXTS), gpt2.geometry.d_model)
    for i, text in enumerate(TEXTS):
        ids = gpt2.tokenizer(text, return_tensors="pt", return_special_tokens_mask=True)
        keep = ids["special_tokens_mask"][0] == 0
        assert not keep.all()  # the tiny tokenizer adds a BOS: it must be left out
        _, cache = gpt2.bridge.run_with_cache(ids["input_ids"])
        for layer in range(gpt2.geometry.n_layers):
            expected = cache[f"blocks.{layer}.hook_resid_post"][0][keep].mean(0)
            torch.testing.assert_close(batched[layer, i], expected, atol=1e-5, rtol=1e-5)
    only_first = mean_residuals(gpt2, TEXTS, layers=[0], progress=False)  # stops after layer 0
    torch.testing.assert_close(only_first[0], batched[0])
    with_bos = mean_residuals(gpt2, TEXTS, exclude_special=False, progress=False)
    assert not torch.allclose(with_bos, batched)


def test_representation_similarity_identical_texts_give_one(gpt2):
    out = representation_similarity(gpt2, TEXTS, TEXTS, progress=False)
    assert out["layer"].tolist() == list(range(gpt2.geometry.n_layers))
    assert out["cka"].tolist() == pytest.approx([1.0] * gpt2.geometry.n_layers)
    assert out["relative_depth"].tolist() == pytest.approx([(l + 0.5) / 3 for l in range(3)])
    assert out.attrs["model"] == "tiny-gpt2"
    with pytest.raises(ValueError, match="parallel"):
        representation_similarity(gpt2, TEXTS, TEXTS[:3], progress=False)
    with pytest.raises(ValueError, match="layers"):
        mean_residuals(gpt2, TEXTS, layers=[3], progress=False)
