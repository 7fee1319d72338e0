"""Least-squares fits over the readings: a straight line through the last seconds and an
online ordinary least squares for the pad identifier. Pure arithmetic, no state of the pad.

Hazard: one MCP3008 count is about 0.1 °C near 40 °C and the reading is noisy, so a
two-point derivative is mostly noise. Every slope the controller uses comes from a fit
over seconds of 10 Hz samples.
"""

from __future__ import annotations

import math
from collections import deque


def at_rest(readings: list[float]) -> bool:
    """Whether a short run of readings shows no drift beyond its noise (first half against
    second half, with 0.1 °C of slack for the quantisation)."""
    n = len(readings)
    if n < 4:
        return False
    half = n // 2
    first, second = readings[:half], readings[half:]
    mean = sum(readings) / n
    spread = math.sqrt(sum((r - mean) ** 2 for r in readings) / (n - 1))
    drift = sum(second) / len(second) - sum(first) / len(first)
    return abs(drift) <= 0.1 + 3.0 * spread * math.sqrt(1.0 / len(first) + 1.0 / len(second))


class Line:
    """Least-squares line through the readings of the last ``span_s`` seconds.

    One count is ~0.1 °C; a fit over a few seconds of 10 Hz samples resolves slopes of a
    few hundredths of a degree per second, which a two-point difference cannot.
    """

    def __init__(self, span_s: float) -> None:
        self.span_s = span_s
        self._points: deque[tuple[float, float]] = deque()

    def clear(self) -> None:
        self._points.clear()

    def add(self, t_s: float, temp_c: float) -> None:
        self._points.append((t_s, temp_c))
        while self._points and t_s - self._points[0][0] > self.span_s + 1e-9:
            self._points.popleft()

    def fit(self) -> tuple[float, float] | None:
        """(value at the newest sample, slope in °C/s), or ``None`` with too few samples."""
        pts = self._points
        n = len(pts)
        if n < 5 or pts[-1][0] - pts[0][0] < 1.0:
            return None
        t_last = pts[-1][0]
        st = sy = stt = sty = 0.0
        for t, y in pts:
            x = t - t_last
            st += x
            sy += y
            stt += x * x
            sty += x * y
        t_mean, y_mean = st / n, sy / n
        var_t = stt - n * t_mean * t_mean
        if var_t <= 0:
            return None
        slope = (sty - n * t_mean * y_mean) / var_t
        return y_mean - slope * t_mean, slope


class StreamingLeastSquares:
    """Ordinary least squares over a stream of rows, by Givens rotations into a small
    upper-triangular R (numerically stable where the normal equations are not: the
    regressors of :class:`PadIdentifier` are nearly collinear during a ramp)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.r = [[0.0] * n for _ in range(n)]
        self.qty = [0.0] * n
        self.rss = 0.0
        self.count = 0
        self._col_ss = [0.0] * n

    def add(self, row: tuple[float, ...], y: float) -> None:
        x = list(row)
        r, qty = self.r, self.qty
        for k in range(self.n):
            self._col_ss[k] += x[k] * x[k]
        for k in range(self.n):
            if x[k] == 0.0:
                continue
            h = math.hypot(r[k][k], x[k])
            c, s = r[k][k] / h, x[k] / h
            r[k][k] = h
            rk = r[k]
            for j in range(k + 1, self.n):
                rk[j], x[j] = c * rk[j] + s * x[j], c * x[j] - s * rk[j]
            qty[k], y = c * qty[k] + s * y, c * y - s * qty[k]
        self.rss += y * y
        self.count += 1

    def solve(self) -> tuple[list[float], list[list[float]]] | None:
        """(coefficients, covariance) or ``None`` if singular."""
        n, r = self.n, self.r
        # A column (nearly) in the span of the others cannot be told apart from them.
        if self.count <= n or any(abs(r[i][i]) <= 1e-7 * math.sqrt(self._col_ss[i]) + 1e-300
                                  for i in range(n)):
            return None
        coef = [0.0] * n
        for i in range(n - 1, -1, -1):
            coef[i] = (self.qty[i] - sum(r[i][j] * coef[j] for j in range(i + 1, n))) / r[i][i]
        r_inv = [[0.0] * n for _ in range(n)]
        for i in range(n - 1, -1, -1):
            r_inv[i][i] = 1.0 / r[i][i]
            for j in range(i + 1, n):
                r_inv[i][j] = -sum(r[i][m] * r_inv[m][j] for m in range(i + 1, j + 1)) / r[i][i]
        s2 = self.rss / (self.count - n)
        cov = [[s2 * sum(r_inv[i][m] * r_inv[j][m] for m in range(n)) for j in range(n)]
               for i in range(n)]
        return coef, cov

