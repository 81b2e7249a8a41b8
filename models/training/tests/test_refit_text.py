import math

import torch
import torch.nn.functional as F

from models.training import refit_text


def test_with_one_positive_each_it_is_the_symmetric_infonce_of_stage_clip():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 1.5, 0.3], [-0.2, 0.4, 0.9]])
    labels = torch.arange(3)
    plain = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    assert torch.allclose(refit_text.multi_positive_loss(logits, torch.eye(3)), plain)


def test_a_caption_matching_two_images_is_asked_for_both_equally():
    # Caption 0 describes images 0 and 1; caption 1 only image 1. Worked by hand:
    # caption 0 → images: −½(log p00 + log p01); caption 1 → images: −log p11;
    # image 0 ← captions: −log q00; image 1 ← captions: −½(log q01 + log q11).
    logits = torch.tensor([[1.0, 1.0], [0.0, 2.0]])
    matches = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    p = logits.log_softmax(1)
    q = logits.T.log_softmax(1)  # q[j, i]: image j's log-probability of caption i
    to_images = (-(p[0, 0] + p[0, 1]) / 2 - p[1, 1]) / 2
    to_captions = (-q[0, 0] - (q[1, 0] + q[1, 1]) / 2) / 2
    expected = (to_images + to_captions) / 2
    assert math.isclose(refit_text.multi_positive_loss(logits, matches).item(), expected.item(), rel_tol=1e-6)
    # Plain InfoNCE would push caption 0 away from image 1; here moving logit (0, 1) down raises the loss.
    lower = logits.clone()
    lower[0, 1] = 0.0
    assert refit_text.multi_positive_loss(lower, matches) > refit_text.multi_positive_loss(logits, matches)
