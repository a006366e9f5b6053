"""The paper's ablation tables at reduced scale on synthetic data (`nbf-reproduce`), and
`make demo` (`demo`), whose recipe and data the tables' default budget is.

  tables      reproduce_table: one table, from data to reports
  variants    which variants, their configs, training and evaluating their runs
  datasets    the synthetic datasets and Table 4's re-flagged training lists
  budget      one budget per output directory (budget.json), another refused
  cache       cached results, and reuse of an identical run of another table
  segmenter   Table 2's segmenter, its baselines and predicted part maps
  reports     Markdown, CSV and plots
  demo        `make demo`

1. Data: one synthetic dataset in <output_dir>/data (--num_train training and
   --num_test held-out samples), reused while its dataset.json matches. Table
   1's `joints24` needs 24 landmarks stored, so it reads the same samples
   written with 24 landmarks (<output_dir>/data_landmarks24). Table 4 keeps
   the samples and re-flags the training list: `lists/train_3d020_latent.txt`
   gives 20% of the samples latent flag 1 (3D labels), nested subsets of one
   seeded permutation, so 5% of the samples are inside the 10%, and so on.
2. Every variant (configs/reproduce.py) is trained with the same budget in
   <output_dir>/<table>/<variant>/run and evaluated on the held-out split;
   its result is cached in <output_dir>/<table>/<variant>/result.json. An
   interrupted call continues where it stopped (the Trainer resumes a run),
   and a repeated call trains nothing. A variant identical to one of another
   table in the same directory (Table 4's 100% is Table 3's L_lat + L_3D +
   L_2D: same config, data and steps) reuses that run's result.
3. The untrained network, which predicts the latent mean, is evaluated too:
   the baseline a variant that learns has to beat.
4. Writes <output_dir>/<table>.md, .csv and .png (our 3D joint error beside
   the paper's), and <table>_curves.png when the runs hold validation.csv.

The budget (`configs.reproduce.Budget`, with any config overrides that
every variant gets) is recorded in <output_dir>/budget.json; a call with
another budget on the same directory is refused, so one table never mixes
budgets.

Table 2 (fitting on true against predicted part maps) first needs a part
segmenter: the run given by --segmentation_run, or one trained on the
table's data with `reproduce.SegmenterBudget` in
<output_dir>/table2/segmenter/run (the recipe, or the given run, is recorded
in <output_dir>/table2/segmenter/budget.json and a different one refused).
It is evaluated on the held-out split against two baselines (all background;
the true silhouette filled with the largest part), cached in
<output_dir>/table2/segmenter/result.json. Its maps, made as inference hands
them to stage 2, form <output_dir>/data_predicted (`serving.predicted_data`),
regenerated when the run's checkpoint changes. The variant `gt` trains on
`data`, `predicted` on `data_predicted`; each is evaluated on the held-out
split of both (eval_test_gt and eval_test_predicted in its run directory).
"""
from neural_body_fitting.utils import lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=("budget", "cache", "datasets", "demo", "reports", "segmenter", "tables",
                "variants"),
    exports={"tables": ("reproduce_table",),
             "budget": ("RequestError", "check_budget"),
             "variants": ("BASELINE", "METRICS", "select_variants"),
             "datasets": ("PREDICTED_ROOT", "TEST_DATA", "write_fraction_lists"),
             "segmenter": ("segmentation_run_config",),
             "demo": ("run_demo",)},
)
