"""The whole comparison from Python: descriptors against learned features on one's own meshes.

    python compare_models.py MESH_ROOT [WORK_DIR] [--quick]

MESH_ROOT is a dataset as ``shapeclf features`` reads it (``ROOT/<class>/{train,test}/<mesh>``;
``shapeclf.synth("meshes", realistic=True, per_class=20)`` makes one). The feature folder and one model
folder per model go under WORK_DIR (default ``work``); a rerun reuses the feature rows. Each model
is trained over three seeds, and the table printed at the end is their mean and spread, as
``shapeclf compare`` prints it; the comparison page is ``WORK_DIR/models/comparison.html``.
``--quick`` trains one seed for a few epochs (a check that everything runs, not a result).
"""

import os
import sys

import shapeclf


def main(root: str, work: str = "work", quick: bool = False) -> "object":
    features = os.path.join(work, "features")
    models = os.path.join(work, "models")
    # Descriptors and views of every mesh, in their principal axes (the default).
    df = shapeclf.features(root, features)
    print(f"{len(df)} feature rows, {len(df.attrs['failed'])} mesh(es) failed")

    seeds = 1 if quick else 3
    short = dict(epochs=2) if quick else {}
    for kind in ("logistic", "mlp", "cnn", "fusion"):
        # Each model kind with its measured defaults; `repeats` trains seeds 0, 1, 2.
        m = shapeclf.train(features, os.path.join(models, kind), model=kind, repeats=seeds, **short)
        print(f"{kind}: test accuracy {m.report['accuracy']:.3f} (seed 0)")

    table = shapeclf.compare(models)
    print(table[["accuracy", "accuracy_std", "seeds", "train_seconds"]].to_string())

    # The best model classifies a mesh it has not seen, from its file alone.
    best = shapeclf.Model.load(os.path.join(models, table["accuracy"].idxmax()))
    test = df[df.split == "test"].path.iloc[0]
    print(best.predict(shapeclf.mesh_path(root, test), top=2))
    return table


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--quick"]
    if len(args) not in (1, 2):
        sys.exit(__doc__)
    main(args[0], args[1] if len(args) == 2 else "work", quick="--quick" in sys.argv)
