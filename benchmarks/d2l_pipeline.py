"""D2L's PyTorch input pipeline, the reference ``throughput.py`` compares every room with.

D2L's ``load_data_fashion_mnist`` (PyTorch edition) reads torchvision's ``FashionMNIST``
with ``transforms.ToTensor()`` into ``DataLoader(batch_size, shuffle=True,
num_workers=get_dataloader_workers())`` with 4 workers. Per sample, torchvision makes a
PIL image of the uint8 array (``Image.fromarray(img, mode="L")``) and ``ToTensor``
converts it back: ``torch.from_numpy(np.array(pic))`` reshaped to (H, W, C), permuted
to (C, H, W) and divided by 255 as float32. :class:`FashionMNISTImages` does the same
steps with PIL and numpy, so torchvision is not needed; the images are the suite's
cached Fashion-MNIST (``d2l_compat.fetch.load_fashion_mnist``), all 60,000 / 10,000.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch.utils import data

from d2l_compat.fetch import load_fashion_mnist

NUM_WORKERS = 4  # D2L's get_dataloader_workers()


def to_tensor(picture: Image.Image) -> torch.Tensor:
    """torchvision's ``ToTensor`` for a uint8 PIL image: (C, H, W) float32 in [0, 1]."""
    array = np.array(picture, np.uint8, copy=True)
    image = torch.from_numpy(array).view(picture.size[1], picture.size[0],
                                         len(picture.getbands()))
    return image.permute((2, 0, 1)).contiguous().to(torch.float32).div(255)


class FashionMNISTImages(data.Dataset):
    """torchvision's ``FashionMNIST(transform=ToTensor())``: one PIL image per sample."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        picture = Image.fromarray(self.images[index], mode="L")
        return to_tensor(picture), int(self.labels[index])


def load_data_fashion_mnist(batch_size: int, num_workers: int = NUM_WORKERS):
    """D2L's ``load_data_fashion_mnist(batch_size)``: (train_iter, test_iter) DataLoaders."""
    X_train, y_train, X_test, y_test = load_fashion_mnist()
    return (data.DataLoader(FashionMNISTImages(X_train, y_train), batch_size, shuffle=True,
                            num_workers=num_workers),
            data.DataLoader(FashionMNISTImages(X_test, y_test), batch_size, shuffle=False,
                            num_workers=num_workers))
