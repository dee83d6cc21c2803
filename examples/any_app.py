"""Watching your own program with webmon: a plain numpy training loop, no napari, no
dashboard code.

    python examples/any_app.py            # trains until Ctrl-C; then, in another terminal:
    webmon dashboard                      # open the Explorer tab

It trains a small two-layer network with numpy on a made-up image task (16 x 16 pictures of
four kinds of stroke, with noise) and publishes what a developer would watch:

- the stream ``batches``: one record per training step (loss, accuracy, milliseconds the step
  took, gradient norm, learning rate), units given as numpy dtype metadata;
- the stream ``evaluations``: one record per epoch, on held-out pictures;
- the state ``config`` (the model and its settings) and ``progress`` (epoch, step, best loss);
- the shared arrays ``first_layer`` (each hidden unit's 16 x 16 input weights, tiled into one
  image) and ``unit_norms`` (one number per hidden unit);
- the command ``set_learning_rate(value=...)``, which the loop runs between two steps.

``--steps-per-second`` paces the loop so it runs at a watchable speed and leaves the
machine's other cores alone (0 runs flat out).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from webmon import Publisher

SIDE = 16
CLASSES = ("horizontal", "vertical", "diagonal", "anti-diagonal")
GRID = (4, 8)  # hidden units shown as a 4 x 8 grid of 16 x 16 tiles
HIDDEN = GRID[0] * GRID[1]


def _unit(dtype: str, unit: str, description: str = "") -> np.dtype:
    return np.dtype(dtype, metadata={"unit": unit, "description": description})


BATCH_DTYPE = np.dtype([
    ("time", _unit("<f8", "epoch s")),
    ("step", "<u8"),
    ("epoch", "<u4"),
    ("loss", _unit("<f4", "nats", "mean cross-entropy of the batch")),
    ("accuracy", _unit("<f4", "fraction", "share of the batch classified right")),
    ("batch_ms", _unit("<f4", "ms", "forward pass, backward pass and update")),
    ("grad_norm", _unit("<f4", "", "L2 norm of every gradient together")),
    ("learning_rate", "<f4"),
])
EVAL_DTYPE = np.dtype([
    ("time", "<f8"),
    ("epoch", "<u4"),
    ("loss", _unit("<f4", "nats")),
    ("accuracy", _unit("<f4", "fraction")),
])


def make_pictures(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` noisy 16 x 16 pictures of a stroke, and which of the four kinds each is."""
    labels = rng.integers(0, len(CLASSES), count)
    offsets = rng.integers(-5, 6, count)
    rows, cols = np.indices((SIDE, SIDE))
    pictures = np.empty((count, SIDE, SIDE), np.float32)
    for i, (kind, offset) in enumerate(zip(labels, offsets, strict=True)):
        if kind == 0:
            stroke = np.abs(rows - (SIDE // 2 + offset)) <= 1
        elif kind == 1:
            stroke = np.abs(cols - (SIDE // 2 + offset)) <= 1
        elif kind == 2:
            stroke = np.abs(rows - cols - offset) <= 1
        else:
            stroke = np.abs(rows + cols - (SIDE - 1) - offset) <= 1
        pictures[i] = stroke
    pictures += rng.normal(0.0, 0.6, pictures.shape).astype(np.float32)
    return pictures.reshape(count, SIDE * SIDE), labels


class Network:
    """Inputs -> tanh hidden layer -> softmax, trained by plain gradient descent."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.w1 = rng.normal(0, 1 / SIDE, (SIDE * SIDE, HIDDEN)).astype(np.float32)
        self.b1 = np.zeros(HIDDEN, np.float32)
        self.w2 = rng.normal(0, 1 / np.sqrt(HIDDEN), (HIDDEN, len(CLASSES))).astype(np.float32)
        self.b2 = np.zeros(len(CLASSES), np.float32)

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hidden = np.tanh(x @ self.w1 + self.b1)
        logits = hidden @ self.w2 + self.b2
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        return hidden, probabilities

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        _hidden, p = self.forward(x)
        loss = -np.log(p[np.arange(len(y)), y] + 1e-12).mean()
        return float(loss), float((p.argmax(axis=1) == y).mean())

    def step(self, x: np.ndarray, y: np.ndarray, rate: float) -> tuple[float, float, float]:
        """One step of gradient descent; returns loss, accuracy and the gradient's norm."""
        hidden, p = self.forward(x)
        n = len(y)
        loss = -np.log(p[np.arange(n), y] + 1e-12).mean()
        accuracy = (p.argmax(axis=1) == y).mean()
        d_logits = p
        d_logits[np.arange(n), y] -= 1.0
        d_logits /= n
        d_w2 = hidden.T @ d_logits
        d_b2 = d_logits.sum(axis=0)
        d_hidden = (d_logits @ self.w2.T) * (1.0 - hidden ** 2)
        d_w1 = x.T @ d_hidden
        d_b1 = d_hidden.sum(axis=0)
        grads = (d_w1, d_b1, d_w2, d_b2)
        norm = float(np.sqrt(sum(float((g ** 2).sum()) for g in grads)))
        for param, grad in zip((self.w1, self.b1, self.w2, self.b2), grads, strict=True):
            param -= rate * grad
        return float(loss), float(accuracy), norm

    def first_layer_image(self) -> np.ndarray:
        """Each hidden unit's input weights as a 16 x 16 tile, in a 4 x 8 grid."""
        tiles = self.w1.T.reshape(GRID[0], GRID[1], SIDE, SIDE)
        return np.ascontiguousarray(tiles.transpose(0, 2, 1, 3).reshape(GRID[0] * SIDE,
                                                                         GRID[1] * SIDE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", default="trainer", help="producer name (default: trainer)")
    parser.add_argument("--steps-per-second", type=float, default=50.0,
                        help="pace of the loop; 0 runs flat out (default: 50)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=0.02)
    parser.add_argument("--seconds", type=float, default=0.0,
                        help="stop after this long (default: run until Ctrl-C)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    train_x, train_y = make_pictures(4096, rng)
    test_x, test_y = make_pictures(512, rng)
    net = Network(rng)
    settings = {"learning_rate": args.learning_rate}
    config = {
        "model": {"layers": [SIDE * SIDE, HIDDEN, len(CLASSES)], "activation": "tanh",
                  "output": "softmax"},
        "data": {"train": len(train_y), "test": len(test_y), "classes": list(CLASSES),
                 "picture": [SIDE, SIDE]},
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "seed": args.seed,
        "numpy": np.__version__,
    }

    with Publisher(args.name, app="any_app.py (numpy training loop)") as pub:
        batches = pub.stream("batches", BATCH_DTYPE, capacity=1 << 16,
                             description="one record per training step")
        evaluations = pub.stream("evaluations", EVAL_DTYPE, capacity=4096,
                                 description="one record per epoch, on held-out pictures")
        pub.set_state("config", config)

        def set_learning_rate(value: float) -> dict:
            value = float(value)
            if not 0.0 < value <= 10.0:
                raise ValueError(f"the learning rate must be above 0 and at most 10, not {value}")
            settings["learning_rate"] = value
            config["learning_rate"] = value
            pub.set_state("config", config)
            return config

        pub.register_command("set_learning_rate", set_learning_rate)
        print(f"publishing as {args.name!r}; run `webmon dashboard` and open the Explorer tab",
              flush=True)

        step, epoch, best = 0, 0, float("inf")
        per_epoch = len(train_y) // args.batch_size
        period = 1.0 / args.steps_per_second if args.steps_per_second > 0 else 0.0
        started = time.monotonic()
        next_step = started
        try:
            while not args.seconds or time.monotonic() - started < args.seconds:
                order = rng.permutation(len(train_y))
                for start in range(0, per_epoch * args.batch_size, args.batch_size):
                    chosen = order[start: start + args.batch_size]
                    t0 = time.perf_counter()
                    loss, accuracy, norm = net.step(train_x[chosen], train_y[chosen],
                                                    settings["learning_rate"])
                    batch_ms = (time.perf_counter() - t0) * 1000.0
                    batches.append((time.time(), step, epoch, loss, accuracy, batch_ms, norm,
                                    settings["learning_rate"]))
                    step += 1
                    if step % 50 == 0:
                        pub.share_array("first_layer", net.first_layer_image())
                        pub.share_array("unit_norms", np.linalg.norm(net.w1, axis=0))
                    pub.poll()  # run commands sent from the dashboard, here, between steps
                    if period:
                        next_step += period
                        time.sleep(max(0.0, next_step - time.monotonic()))
                test_loss, test_accuracy = net.evaluate(test_x, test_y)
                best = min(best, test_loss)
                evaluations.append((time.time(), epoch, test_loss, test_accuracy))
                epoch += 1
                pub.set_state("progress", {"epoch": epoch, "step": step,
                                           "best_test_loss": round(best, 4),
                                           "test_accuracy": round(test_accuracy, 4)})
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
