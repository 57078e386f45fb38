"""The detect stage: the engine and its folds, the rules, the detectors, the batch stage."""
