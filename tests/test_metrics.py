from circuitlab.evaluation import accuracy, confusion, macro_f1


def test_macro_f1_by_hand():
    gold = [0, 0, 1, 1, 2, 2]
    pred = [0, 1, 1, 1, 2, 0]
    # class 0: tp1 fp1 fn1 -> 0.5; class 1: tp2 fp1 fn0 -> 0.8; class 2: tp1 fp0 fn1 -> 2/3
    assert abs(macro_f1(gold, pred, 3) - (0.5 + 0.8 + 2 / 3) / 3) < 1e-12
    assert accuracy(gold, pred) == 4 / 6
    assert confusion(gold, pred, 3) == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_absent_class_scores_zero():
    assert macro_f1([0, 0], [0, 0], 2) == 0.5
