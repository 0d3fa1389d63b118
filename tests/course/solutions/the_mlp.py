"""Solution of the exercise in 04_the_mlp: count the MLP's parameters by hand."""


def dense(n_in, n_out):
    """A dense layer: an n_in x n_out kernel plus one bias per output."""
    return n_in * n_out + n_out


def count_parameters(input_dim, condition_dim, net_depth, net_width, net_depth_condition,
                     net_width_condition, skip_layer):
    total, n_in = 0, input_dim
    for i in range(net_depth):
        total += dense(n_in, net_width)
        n_in = net_width
        if i % skip_layer == 0 and i > 0:  # the input is concatenated back after this layer
            n_in += input_dim
    total += dense(n_in, 1)  # density head
    total += dense(n_in, net_width)  # bottleneck
    n_in = net_width + condition_dim  # [bottleneck, encoded view direction]
    for _ in range(net_depth_condition):
        total += dense(n_in, net_width_condition)
        n_in = net_width_condition
    return total + dense(n_in, 3)  # rgb head
