"""Feature tables: exact encodings on a hand-made table, alignment to the id maps, the user's own
files (roles, one-line errors), and properties of the parser on generated tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from deeprecs.data.feature_sources import load_features, read_feature_file
from deeprecs.data.features import Column, FeatureEncoder, FeatureTable, parse_columns
from deeprecs.errors import DataError

TABLE = pd.DataFrame({"gender": ["F", "M", None, "F"], "genres": ["a|b", "b", "", "c|a"], "age": [10, 20, 30, None],
                      "income": [1.0, 3.0, None, 2.0]}, index=pd.Index([5, 6, 7, 8]))
COLUMNS = parse_columns("gender=categorical,genres=multi:|,age=bucket:2,income=scale")


def test_roles_parse_and_print_back():
    assert [c.spec() for c in COLUMNS] == ["gender=categorical", "genres=multi:|", "age=bucket:2", "income=scale"]
    for bad in ("gender", "x=colour", "x=bucket:0", "=categorical"):
        with pytest.raises(DataError, match="feature column"):
            parse_columns(bad)


def test_exact_encoding_with_missing_values_as_their_own_feature():
    table = FeatureTable.build(TABLE, np.array([5, 6, 7, 8]), COLUMNS)
    names = table.names()
    assert names == ["gender=F", "gender=M", "gender=<missing>", "genres=a", "genres=b", "genres=c", "genres=<missing>",
                     "age=[-inf,20)", "age=[20,inf)", "age=<missing>", "income", "income=<missing>"]
    ids, weights = table.rows(range(4))
    as_names = [sorted(names[i] for i in row) for row in ids]
    assert as_names[0] == ["age=[-inf,20)", "gender=F", "genres=a", "genres=b", "income"]
    assert as_names[2] == ["age=[20,inf)", "gender=<missing>", "genres=<missing>", "income=<missing>"]
    assert as_names[3] == ["age=<missing>", "gender=F", "genres=a", "genres=c", "income"]
    income = {names[i]: w for i, w in zip(ids[1], weights[1])}["income"]
    assert income == pytest.approx((3.0 - 2.0) / np.std([1.0, 3.0, 2.0]))
    np.testing.assert_array_equal(table.encoder.fields(), [0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 3])


def test_alignment_counts_rows_without_ids_and_ids_without_rows():
    table = FeatureTable.build(TABLE, np.array([6, 8, 9]), COLUMNS)
    assert table.report["rows_not_in_interactions"] == 2 and table.report["ids_without_row"] == 1
    names = table.names()
    ids, _ = table.rows([2])
    assert sorted(names[i] for i in ids[0]) == ["age=<missing>", "gender=<missing>", "genres=<missing>", "income=<missing>"]


def test_bag_matches_rows_and_new_rows_encode_alike():
    table = FeatureTable.build(TABLE, np.array([5, 6, 7, 8]), COLUMNS)
    bag = table.bag(torch.tensor([3, 0]))
    ids, weights = table.rows([3, 0])
    np.testing.assert_array_equal(bag.indices.numpy(), np.concatenate(ids))
    np.testing.assert_array_equal(bag.offsets.numpy(), [0, len(ids[0])])
    np.testing.assert_allclose(bag.weights.numpy(), np.concatenate(weights))
    new = table.new_rows(TABLE.iloc[[3, 0]])
    np.testing.assert_array_equal(new.indices.numpy(), bag.indices.numpy())
    saved = FeatureEncoder.from_json(table.encoder.to_json())
    assert saved.feature_names() == table.names()


def test_the_users_own_table_roles_guessed_and_errors_name_file_and_line(tmp_path):
    path = tmp_path / "users.csv"
    path.write_text("uid,city,score\nu1,Paris,1\nu2,,2\nu3,Rome,x\n")
    table, roles, lines = read_feature_file(path, "city=categorical,score=scale")
    with pytest.raises(DataError, match=r"users.csv:4: score must be a number, got 'x'"):
        FeatureTable.build(table, np.array(["u1"], dtype=object), roles, str(path), lines)
    path.write_text("uid,city\nu1,Paris\nu2,Rome\nu1,Oslo\n")
    table, roles, lines = read_feature_file(path)
    assert roles == [Column("city")]
    with pytest.raises(DataError, match=r"users.csv:4: id 'u1' appears twice"):
        FeatureTable.build(table, np.array(["u1", "u2"], dtype=object), roles, str(path), lines)
    path.write_text("uid,city\nu1,Paris\nu2,Rome,extra\n")
    with pytest.raises(DataError, match="users.csv"):
        read_feature_file(path)


def test_movielens_side_data_as_features(tmp_path):
    from tests.conftest import write_movielens

    from deeprecs.data.movielens import load_movielens

    folder = write_movielens(tmp_path / "ml")  # 30 users; u.user: users 1..28 and 99
    (folder / "u.user").write_text("".join(f"{u}|{20 + u}|{'MF'[u % 2]}|student|{u:05d}\n" for u in [*range(1, 29), 99]))
    ds = load_movielens(folder)
    features = load_features(ds)
    assert features.users.report == {"columns": ["age=bucket:7", "gender=categorical", "occupation=categorical", "zip1=categorical"],
                                     "n_features": (7 + 1) + (2 + 1) + (1 + 1) + (1 + 1), "rows_not_in_interactions": 1, "ids_without_row": 2}
    assert features.items.report["columns"] == ["genres=multi:|", "year=bucket:10"]
    assert features.users.n_rows == ds.interactions.n_users and features.items.n_rows == ds.interactions.n_items


values = st.one_of(st.none(), st.sampled_from(["x", "y", "z w", "q"]))


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.tuples(values, st.lists(st.sampled_from(["a", "b", "c"]), max_size=3), st.one_of(st.none(), st.floats(-1e3, 1e3))),
                     min_size=1, max_size=12),
       known=st.lists(st.integers(0, 15), unique=True, max_size=10))
def test_every_id_gets_one_feature_per_single_valued_column_and_its_own_tokens(rows, known):
    table = pd.DataFrame({"c": [r[0] for r in rows], "m": ["|".join(r[1]) for r in rows], "n": [r[2] for r in rows]},
                         index=pd.Index(range(len(rows))))
    columns = parse_columns("c=categorical,m=multi:|,n=bucket:3")
    ids = np.array(sorted(known), dtype=np.int64)
    ft = FeatureTable.build(table, ids, columns)
    fields = ft.encoder.fields()
    names = ft.names()
    assert ft.n_rows == len(ids) and ft.indptr[-1] == len(ft.indices) and np.all(np.diff(ft.indptr) >= 0)
    assert ft.report["ids_without_row"] == int((ids >= len(rows)).sum())
    assert ft.report["rows_not_in_interactions"] == len(rows) - int((ids < len(rows)).sum())
    for r, row_ids in enumerate(ft.rows(range(len(ids)))[0]):
        assert np.bincount(fields[row_ids], minlength=3)[[0, 2]].tolist() == [1, 1]
        tokens = sorted(names[i].split("=", 1)[1] for i in row_ids if fields[i] == 1)
        raw = sorted(set(rows[ids[r]][1])) if ids[r] < len(rows) else []
        assert tokens == (raw or ["<missing>"])
