"""`run.py evaluate`: Normalized Error of a prediction CSV, or of a trained run."""
from pathlib import Path

from data_tools.errors import DataError, UsageError
from engine.scoring.score_report import report_lines, write_json
from engine.scoring.test_set import evaluate_csv, evaluate_runs


def main(args):
    views = len(args.run or ()) > 1 or args.flip or list(args.scales) != [1.0]
    if args.data_dir and not args.gt:
        raise UsageError("--data-dir goes with --gt: it is the folder of the answers' images")
    if args.data_dir and not Path(args.data_dir).is_dir():
        raise DataError("--data-dir: not a folder", args.data_dir)
    if args.run and args.gt:
        result = evaluate_runs(args.run, args.gt, args.data_dir, args.scales, args.flip,
                               args.decode)
    elif args.run:
        from engine.scoring import run_eval  # TensorFlow: imported only to score a run
        if views:
            result = run_eval.evaluate_views(args.run, args.scales, args.flip, args.decode)
        else:
            result = run_eval.evaluate_saved_run(args.run[0], args.decode)
    else:
        if args.decode or views:
            raise UsageError("--decode, --flip and --scales go with --run: a prediction CSV "
                             "is decoded already")
        result = evaluate_csv(args.pred, args.gt, args.data_dir)
    print("\n".join(report_lines(result)))
    if args.json:
        write_json(args.json, result)
    return 0
