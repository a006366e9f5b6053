"""One of the paper's ablation tables at reduced scale: data, every variant's run and
result, the baseline, and the reports (see the package docstring)."""
import os
import time

from neural_body_fitting.body.resolve import resolve_body_model
from neural_body_fitting.configs import reproduce
from neural_body_fitting.reproduction import budget, cache, datasets, reports, segmenter, variants


def reproduce_table(table, output_dir, table_budget, variant_names=None, body_model=None,
                    progress=True, segmentation_run=None,
                    segmenter_budget=reproduce.SegmenterBudget()):
    """Trains, evaluates and tabulates the variants of `table`; returns {variant: result}.

    `variant_names` restricts the table to some of its variants; the result of
    `variants.BASELINE` (the untrained network) is included. For Table 2 the part
    maps are predicted by `segmentation_run`, or by a segmenter trained with
    `segmenter_budget`, whose result is included as 'segmenter'.
    """
    start = time.perf_counter()
    selected = variants.select_variants(table, variant_names)
    configs = variants.variant_configs(output_dir, selected, table_budget, body_model)
    body_model_name = resolve_body_model(body_model).name
    budget.check_budget(output_dir, table_budget, body_model_name)
    datasets.prepare_data(output_dir, selected, table_budget, body_model, progress)
    results, times = {}, []
    segmenter_result, test_roots, key = None, None, None
    if reproduce.TABLES[table].cross_evaluation:
        segmenter_result, was_cached, key = segmenter.prepare_segmenter(
            output_dir, segmentation_run, segmenter_budget, progress)
        times.append(reports.describe_time("segmenter", segmenter_result, was_cached))
        test_roots = datasets.test_roots(output_dir)

    def own_run_dir(name):
        return os.path.join(output_dir, table, name, "run")

    def run_dir(name):
        """Where the variant's run is: its own, or the identical run it reused."""
        return results[name].get("reused_from") or own_run_dir(name)

    def result_path(name):
        return os.path.join(output_dir, table, name, "result.json")

    for name, config in configs.items():
        results[name], was_cached = cache.cached(
            result_path(name), cache.train_or_reuse, output_dir, config, own_run_dir(name),
            table_budget.steps, progress, test_roots, key=key)
        times.append(reports.describe_time(name, results[name], was_cached))
        print(f"{table}/{times[-1]}")
    first = next(iter(configs))  # The baseline needs a run's record and statistics.
    baseline = variants.BASELINE
    results[baseline], was_cached = cache.cached(
        result_path(baseline), variants.baseline_result, configs[first], run_dir(first),
        test_roots, key=key)
    times.append(reports.describe_time(baseline, results[baseline], was_cached))
    reports.write_reports(table, output_dir, selected, results, table_budget, body_model_name,
                          {name: run_dir(name) for name in configs}, segmenter_result)
    print(f"{table}: total wall time {time.perf_counter() - start:.0f} s")
    print("\n".join(f"  {line}" for line in times))
    if segmenter_result is not None:
        results["segmenter"] = segmenter_result
    return results
