# Not D2L's code: the room's own d2l.train_ch6 (D2L's signature) on the suite's LeNet,
# the way D2L's later chapters call it. tests/test_d2l_code.py runs it like the chapters.
from d2l_compat import torch as d2l
# %%
train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size=64)
d2l.train_ch6(d2l.lenet(), train_iter, test_iter, 2, 0.1, d2l.try_gpu())
