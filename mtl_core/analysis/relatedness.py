"""Task relatedness: TAG lookahead affinity and grouping, linear CKA, proxy rank correlation.

(Pairwise transfer gain is the configuration comparison, `analysis.configurations`, read by the map.)

Matrices are T×T numpy arrays with rows = source (the helper task, or the task the step was taken
on) and columns = target (the task whose metric or loss is read), in the order of a `tasks` list;
entries not measured, and the diagonal, are nan. See SCIENCE.md, "Task affinity and relatedness".

Conventions chosen here:
- In TAG grouping a task alone in its group scores 0: it neither gains nor loses from partners.
- The dendrogram's distance is d = max(Z_sym) − Z_sym off the diagonal, 0 on it, where
  Z_sym = (Z + Zᵀ)/2 and the max runs over off-diagonal entries: the most mutually helpful pair is
  at distance 0 and distances are never negative.
"""
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.spatial.distance import squareform
from scipy.stats import spearmanr

from mtl_core.errors import UserError
from mtl_core.jsonable import finite_or_none

AFFINITY_COLUMNS = ("step", "source", "target", "z")

# Exact grouping enumerates every split of the tasks into blocks: 3^T work, under a second at T = 12.
MAX_TASKS_FOR_GROUPING = 12

# Two scores closer than this are a tie, broken by the enumeration order (see `best_grouping`).
_SCORE_TOLERANCE = 1e-12


def lookahead_affinity(loss_before: float, loss_after: float) -> float:
    """Z_{i→j} = 1 − L_j(after a step on task i) / L_j(before): > 0 when the step on i helped j.

    Not divided by the learning rate (the TAG code does): Z is then read directly as the fraction
    of j's loss removed, and runs with one learning rate compare as they are. nan if L_before is 0.
    """
    loss_before, loss_after = float(loss_before), float(loss_after)
    if loss_before == 0:
        return float("nan")
    return 1.0 - loss_after / loss_before


def affinity_matrix(records: pd.DataFrame, tasks: Sequence[str] | None = None) -> np.ndarray:
    """T×T mean lookahead affinity over steps; rows = source (step taken on), columns = target.

    `records` has columns step, source, target, z. `tasks` fixes the order (default: sorted names
    seen in the records). The diagonal is nan.
    """
    missing = [column for column in AFFINITY_COLUMNS if column not in records.columns]
    if missing:
        raise UserError(f"affinity records: missing columns {missing}; need {list(AFFINITY_COLUMNS)}", field="affinity")
    if tasks is None:
        tasks = sorted(set(records["source"]) | set(records["target"]))
    means = records.groupby(["source", "target"])["z"].mean().unstack()
    matrix = means.reindex(index=tasks, columns=tasks).to_numpy(dtype=float, copy=True)
    np.fill_diagonal(matrix, np.nan)
    return matrix


def member_scores(affinity: np.ndarray, group: Sequence[int]) -> np.ndarray:
    """Each member j's score in a group: mean over the other members i of Z[i, j]; 0 for a singleton."""
    group = list(group)
    if len(group) == 1:
        return np.zeros(1)
    block = np.asarray(affinity, dtype=float)[np.ix_(group, group)]
    off_diagonal = ~np.eye(len(group), dtype=bool)
    return np.array([block[:, j][off_diagonal[:, j]].mean() for j in range(len(group))])


def group_score(affinity: np.ndarray, group: Sequence[int]) -> float:
    """TAG's score of a group of task indices: the mean of its members' scores."""
    return float(np.mean(member_scores(affinity, group)))


def grouping_score(affinity: np.ndarray, tasks: Sequence[str], groups: Sequence[Sequence[str]]) -> float:
    """Mean over tasks of the best member score among the groups that contain the task.

    This is what `best_grouping` maximises; -inf if some task is in no group.
    """
    index = {task: position for position, task in enumerate(tasks)}
    best = np.full(len(tasks), -np.inf)
    for group in groups:
        members = [index[task] for task in group]
        best[members] = np.maximum(best[members], member_scores(affinity, members))
    return float(np.mean(best))


def best_grouping(affinity: np.ndarray, tasks: Sequence[str], max_groups: int) -> list[list[str]]:
    """At most `max_groups` groups (they may overlap) covering every task, maximising `grouping_score`.

    Exact. Chosen groups G_1..G_B, each task served by its best group, split the tasks into blocks
    A_k ⊆ G_k; so the optimum is the best split of the tasks into ≤ B blocks, each block A worth
    max over G ⊇ A of Σ_{j∈A} score_G(j). A dynamic programme over subsets finds it in 3^T steps.

    Ties (within 1e-12) go to fewer groups, then to the smallest group serving a block, then to
    the first found in a fixed enumeration order. Members are sorted by name and groups sorted.
    Off-diagonal affinities must be finite; at most 12 tasks.
    """
    affinity = _validated_square(affinity, tasks)
    count = len(tasks)
    if count > MAX_TASKS_FOR_GROUPING:
        raise UserError(
            f"tasks: exact grouping supports at most {MAX_TASKS_FOR_GROUPING} tasks, got {count}", field="tasks"
        )
    if max_groups < 1:
        raise UserError(f"max_groups: must be ≥ 1, got {max_groups}", field="max_groups")
    if not np.isfinite(affinity[~np.eye(count, dtype=bool)]).all():
        raise UserError(
            "affinity: every off-diagonal entry must be measured (finite) to group tasks", field="affinity"
        )

    block_value, block_group = _best_group_per_block(affinity, count)
    chosen_masks = _best_split(block_value, count, max_groups)
    groups = {tuple(sorted(tasks[t] for t in _members(block_group[mask], count))) for mask in chosen_masks}
    return sorted(list(group) for group in groups)


def affinity_dendrogram(affinity: np.ndarray, tasks: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Average-linkage clustering of tasks by symmetrised affinity: (scipy linkage matrix, leaf order).

    Distance d = max(Z_sym) − Z_sym, 0 on the diagonal (module docstring). Needs ≥ 2 tasks and
    finite off-diagonal entries.
    """
    affinity = _validated_square(affinity, tasks)
    if len(tasks) < 2:
        raise UserError(f"tasks: need ≥ 2 tasks to cluster, got {len(tasks)}", field="tasks")
    symmetric = (affinity + affinity.T) / 2
    off_diagonal = ~np.eye(len(tasks), dtype=bool)
    if not np.isfinite(symmetric[off_diagonal]).all():
        raise UserError(
            "affinity: every off-diagonal entry must be measured (finite) to cluster tasks", field="affinity"
        )
    distance = np.where(off_diagonal, symmetric[off_diagonal].max() - symmetric, 0.0)
    linkage_matrix = linkage(squareform(distance, checks=False), method="average")
    return linkage_matrix, [tasks[leaf] for leaf in leaves_list(linkage_matrix)]


def linear_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Linear CKA (Kornblith et al. 2019) of two representations of the same n inputs (rows).

    Columns are centred; CKA = ‖YᵀX‖_F² / (‖XᵀX‖_F ‖YᵀY‖_F). When features outnumber inputs the
    equal n×n Gram form ⟨XXᵀ, YYᵀ⟩_F / (‖XXᵀ‖_F ‖YYᵀ‖_F) is cheaper. nan if either is constant.
    """
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float)
    if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != Y.shape[0]:
        raise UserError(
            f"representations: need two 2-D arrays with the same number of rows, got {X.shape} and {Y.shape}",
            field="representations",
        )
    X = X - X.mean(axis=0)
    Y = Y - Y.mean(axis=0)
    if X.shape[1] + Y.shape[1] > 2 * X.shape[0]:
        gram_x, gram_y = X @ X.T, Y @ Y.T  # (n, n)
        cross = np.sum(gram_x * gram_y)
        norm_x, norm_y = np.linalg.norm(gram_x), np.linalg.norm(gram_y)
    else:
        cross = np.linalg.norm(Y.T @ X) ** 2
        norm_x, norm_y = np.linalg.norm(X.T @ X), np.linalg.norm(Y.T @ Y)
    if norm_x == 0 or norm_y == 0:
        return float("nan")
    return float(cross / (norm_x * norm_y))


def rank_correlation(proxy: np.ndarray, target: np.ndarray) -> float:
    """Spearman correlation of two T×T matrices over off-diagonal entries finite in both.

    Tells how well a cheap proxy (affinity, mean cosine) ranks the pairs like the real transfer
    gain. nan with fewer than 3 such entries or when either side is constant.
    """
    proxy = np.asarray(proxy, dtype=float)
    target = np.asarray(target, dtype=float)
    if proxy.shape != target.shape or proxy.ndim != 2 or proxy.shape[0] != proxy.shape[1]:
        raise UserError(
            f"matrices: need two square matrices of one shape, got {proxy.shape} and {target.shape}",
            field="matrices",
        )
    usable = ~np.eye(len(proxy), dtype=bool) & np.isfinite(proxy) & np.isfinite(target)
    x, y = proxy[usable], target[usable]
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)


def matrix_frame(matrix: np.ndarray, tasks: Sequence[str]) -> pd.DataFrame:
    """The matrix as a DataFrame for CSV export: index 'source' (helper), columns 'target'."""
    matrix = _validated_square(matrix, tasks)
    return pd.DataFrame(
        matrix, index=pd.Index(list(tasks), name="source"), columns=pd.Index(list(tasks), name="target")
    )


def matrix_to_json(matrix: np.ndarray) -> list[list[float | None]]:
    """Nested lists of floats, None where the entry is nan or infinite (JSON has neither)."""
    return [[finite_or_none(value) for value in row] for row in np.asarray(matrix, dtype=float)]


def _validated_square(matrix: np.ndarray, tasks: Sequence[str]) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=float)
    if matrix.shape != (len(tasks), len(tasks)):
        raise UserError(
            f"matrix: shape {matrix.shape} does not match {len(tasks)} tasks; need ({len(tasks)}, {len(tasks)})",
            field="matrix",
        )
    return matrix


def _members(mask: int, count: int) -> list[int]:
    return [t for t in range(count) if mask >> t & 1]


def _best_group_per_block(affinity: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """For every block A (bitmask): the best value max_{G ⊇ A} Σ_{j∈A} score_G(j), and that G.

    Groups are visited by size, then bitmask, and only a strictly better value replaces the
    incumbent, so ties go to the smaller group.
    """
    masks = np.arange(1 << count)
    membership = (masks[:, None] >> np.arange(count) & 1).astype(float)  # (2^T, T)
    block_value = np.full(masks.size, -np.inf)
    block_group = np.zeros(masks.size, dtype=np.int64)
    for group in sorted(range(1, masks.size), key=lambda mask: (mask.bit_count(), mask)):
        members = _members(group, count)
        scores = np.zeros(count)
        scores[members] = member_scores(affinity, members)
        values = membership @ scores  # value of every block, if it were served by this group
        better = ((masks & ~group) == 0) & (masks != 0) & (values > block_value + _SCORE_TOLERANCE)
        block_value[better], block_group[better] = values[better], group
    return block_value, block_group


def _best_split(block_value: np.ndarray, count: int, max_groups: int) -> list[int]:
    """Blocks (bitmasks) of the best split of all tasks into at most `max_groups` blocks."""
    full = 1 << count
    # best[b][mask]: best value splitting `mask` into at most b blocks; choice[b][mask]: the block
    # holding mask's lowest task. best[b] starts from best[b - 1] and only strict gains replace it,
    # so ties keep fewer blocks.
    best = [np.full(full, -np.inf) for _ in range(max_groups + 1)]
    choice = [np.zeros(full, dtype=np.int64) for _ in range(max_groups + 1)]
    best[0][0] = 0.0
    for limit in range(1, max_groups + 1):
        best[limit][:], choice[limit][:] = best[limit - 1], choice[limit - 1]
        for mask in range(1, full):
            lowest = mask & -mask
            rest = mask ^ lowest
            sub = rest
            while True:  # blocks are `lowest` plus every subset of the rest, larger rests first
                block = sub | lowest
                value = block_value[block] + best[limit - 1][mask ^ block]
                if value > best[limit][mask] + _SCORE_TOLERANCE:
                    best[limit][mask], choice[limit][mask] = value, block
                if sub == 0:
                    break
                sub = (sub - 1) & rest
    blocks, mask, limit = [], full - 1, max_groups
    while mask:
        block = int(choice[limit][mask])
        blocks.append(block)
        mask, limit = mask ^ block, limit - 1
    return blocks
