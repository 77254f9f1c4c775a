"""Counting the floating-point operations (FLOPs) of one training iteration.

A speed figure means more next to the work it did: FLOPs per iteration times
iterations per second is the arithmetic rate the machine reached, which
benchmarks/throughput.py compares with the rate of one big convolution (the
best this machine does on this kind of work).

Only convolutions and dense layers are counted: they hold more than 98% of the
arithmetic of these networks (activations, batch norm and the losses are a few
operations per value). A multiply-add counts as 2 FLOPs.

Backward passes: a layer's backward pass computes the gradient of its input
(needed by the layer before it) and of its weights (needed by the optimizer),
each costing as much as the forward pass. The network's first layer needs no
input gradient; a frozen network needs no weight gradients.
"""
import keras


def layer_forward_flops(layer):
    """FLOPs of one image through `layer` (0 for layers that are not counted)."""
    inner = layer.layer if isinstance(layer, keras.layers.Wrapper) else layer
    if isinstance(inner, keras.layers.Conv2DTranspose):
        _, height, width, channels_in = layer.input.shape  # each input pixel spreads a kernel
        kernel_h, kernel_w = inner.kernel_size
        return 2 * height * width * kernel_h * kernel_w * channels_in * inner.filters
    if isinstance(inner, keras.layers.Conv2D):
        _, height, width, _ = layer.output.shape  # each output pixel gathers a kernel
        kernel_h, kernel_w = inner.kernel_size
        return 2 * height * width * kernel_h * kernel_w * layer.input.shape[-1] * inner.filters
    if isinstance(inner, keras.layers.Dense):
        return 2 * layer.input.shape[-1] * inner.units
    return 0


def counted_layers(model):
    """[per-image forward FLOPs] of the counted layers, in order, looking inside nested models."""
    flops = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            flops += counted_layers(layer)
        elif layer_forward_flops(layer):
            flops.append(layer_forward_flops(layer))
    return flops


def forward_flops(model):
    return sum(counted_layers(model))


def backward_flops(model, weights=True, first_input=False):
    """Per-image backward FLOPs: weight gradients (unless frozen) and input
    gradients (for the first layer only if `first_input`)."""
    layers = counted_layers(model)
    input_gradients = sum(layers) - (0 if first_input else layers[0])
    return input_gradients + (sum(layers) if weights else 0)


def iteration_flops(generator, discriminator, batch_size, d_steps=1):
    """FLOPs of one training iteration of train.py, split by what computes them."""
    half = batch_size // 2
    g_forward, d_forward = forward_flops(generator), forward_flops(discriminator)
    parts = {
        "generator makes fakes for D": d_steps * half * g_forward,
        "D step (forward + backward)": d_steps * batch_size * (d_forward + backward_flops(discriminator)),
        # The stacked model: G and D forward; D frozen (input gradients only, down
        # to G's output); G's own backward pass.
        "G step through the stacked model": batch_size * (
            g_forward + d_forward + backward_flops(discriminator, weights=False, first_input=True)
            + backward_flops(generator)),
    }
    parts["total"] = sum(parts.values())
    return parts
