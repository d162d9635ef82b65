"""Parsers for the MovieLens layouts: exact values on tiny files, and every malformed input."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deeprecs.data.movielens import load_movielens
from deeprecs.errors import DataError


def test_100k_ratings_items_users(ml100k_dir):
    ds = load_movielens(ml100k_dir)
    inter = ds.interactions
    assert len(inter) == 6 and inter.shape == (3, 3)
    assert inter.user_map.raw.tolist() == [1, 2, 3] and inter.item_map.raw.tolist() == [10, 20, 30]
    assert inter.ratings.tolist() == [5, 3, 4, 1, 2, 5]
    assert inter.timestamps.tolist() == [100, 200, 150, 300, 50, 400]
    assert ds.items.at[10, "genres"] == "Animation|Comedy"
    assert ds.items.at[20, "title"] == "Misérables, Les (1995)"  # latin-1 decoded
    assert ds.items.at[20, "genres"] == ""
    assert ds.items.at[30, "year"] == 1997.0  # from the release date
    assert ds.users.at[2, "occupation"] == "other" and ds.users.at[1, "age"] == 24
    assert ds.title(10) == "Toy Story (1995)"
    assert ds.rating_values.tolist() == [1, 2, 3, 4, 5]


def test_1m_dat_layout(tmp_path, write):
    folder = tmp_path / "ml-1m"
    write(folder / "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n")
    write(folder / "movies.dat", "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n661::James and the Giant Peach (1996)::Animation|Children's|Musical\n", "latin-1")
    write(folder / "users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n")
    ds = load_movielens(folder)
    assert len(ds.interactions) == 3
    assert ds.items.at[661, "genres"] == "Animation|Children's|Musical"
    assert ds.items.at[1193, "year"] == 1975.0
    assert ds.users.at[2, "gender"] == "M" and ds.users.at[2, "age"] == 56


def test_csv_layout_with_crlf_and_quotes(tmp_path, write):
    folder = tmp_path / "ml-latest-small"
    write(folder / "ratings.csv", "userId,movieId,rating,timestamp\r\n1,1,4.0,964982703\r\n1,3,0.5,964981247\r\n")
    write(folder / "movies.csv", 'movieId,title,genres\r\n1,Toy Story (1995),Adventure|Comedy\r\n3,"Grumpier, Old Men (1995)",(no genres listed)\r\n')
    ds = load_movielens(folder)
    assert ds.interactions.ratings.tolist() == [4.0, 0.5]
    assert ds.items.at[3, "title"] == "Grumpier, Old Men (1995)" and ds.items.at[3, "genres"] == ""
    assert ds.users is None


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("1\t10\t5\t100\n1\t20\t3\n", 2, "expected 4"),             # too few fields
        ("1\t10\t5\t100\t7\n1\t20\t3\t1\n", 1, "expected 4"),       # too many fields on line 1
        ("1\t10\t5\t100\n2\t20\tgood\t1\n", 2, "rating must be a number"),
        ("1\t10\t5\t100\n2\t20\tnan\t1\n3\t1\t1\t1\n", 2, "NaN rating"),
        ("1\t10\t5\t100\n2\t20\tinf\t1\n", 2, "rating is not a finite number"),
        ("1\t10\t5\t100\nu2\t20\t3\t1\n", 2, "user must be an integer"),
        ("1\t10\t5\t100\n2\t20.5\t3\t1\n", 2, "item must be an integer"),
        ("1\t10\t5\t100\n\n2\t20\t\t1\n", 3, "missing or NaN rating"),  # blank line counted
    ],
)
def test_malformed_u_data_names_file_and_line(tmp_path, text, line, words, write):
    write(tmp_path / "u.data", text)
    with pytest.raises(DataError, match=rf"u\.data:{line}: .*{words}"):
        load_movielens(tmp_path)


def test_malformed_dat_line(tmp_path, write):
    write(tmp_path / "ratings.dat", "1::1193::5::978300760\n1::661::3\n")
    with pytest.raises(DataError, match=r"ratings\.dat:2: expected 4 '::'-separated fields, found 3"):
        load_movielens(tmp_path)


def test_csv_bad_header_and_bad_rating(tmp_path, write):
    write(tmp_path / "ratings.csv", "user,movie,rating,timestamp\n1,1,4,1\n")
    with pytest.raises(DataError, match=r"ratings\.csv:1: expected the header"):
        load_movielens(tmp_path)
    write(tmp_path / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4,1\n1,2,four,1\n")
    with pytest.raises(DataError, match=r"ratings\.csv:3: rating must be a number, got 'four'"):
        load_movielens(tmp_path)


def test_empty_and_missing_files(tmp_path, write):
    with pytest.raises(DataError, match="not a MovieLens folder"):
        load_movielens(tmp_path)
    write(tmp_path / "u.data", "")
    with pytest.raises(DataError, match=r"u\.data: file is empty"):
        load_movielens(tmp_path)


@pytest.mark.parametrize(("policy", "expected"), [("last", [(1, 10, 2.0)]), ("first", [(1, 10, 5.0)]), ("mean", [(1, 10, 3.5)])])
def test_duplicate_policies(tmp_path, policy, expected, write):
    # The later timestamp (200) holds rating 2 although it comes first in the file.
    write(tmp_path / "u.data", "1\t10\t2\t200\n1\t10\t5\t100\n")
    inter = load_movielens(tmp_path, duplicates=policy).interactions
    rows = list(zip(inter.user_map.to_raw(inter.users).tolist(), inter.item_map.to_raw(inter.items).tolist(), inter.ratings.tolist()))
    assert rows == expected
    assert inter.meta["duplicates_merged"] == 1


def test_duplicates_error_policy(tmp_path, write):
    write(tmp_path / "u.data", "1\t10\t2\t200\n1\t10\t5\t100\n")
    with pytest.raises(DataError, match="duplicate"):
        load_movielens(tmp_path, duplicates="error")


rows = st.lists(
    st.tuples(st.integers(1, 50), st.integers(1, 80), st.sampled_from([1, 2, 3, 4, 5]), st.integers(0, 10**9)),
    min_size=1, max_size=40,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows, sep=st.sampled_from(["u.data", "ratings.dat", "ratings.csv"]))
def test_parsers_round_trip(tmp_path_factory, rows, sep, write):
    folder = tmp_path_factory.mktemp("rt")
    joiner = {"u.data": "\t", "ratings.dat": "::", "ratings.csv": ","}[sep]
    header = "userId,movieId,rating,timestamp\n" if sep == "ratings.csv" else ""
    write(folder / sep, header + "".join(joiner.join(map(str, r)) + "\n" for r in rows))
    inter = load_movielens(folder, duplicates="last").interactions
    # reference: the latest (then last-in-file) row for each (user, item)
    ref = {}
    for pos, (u, i, r, t) in enumerate(rows):
        if (u, i) not in ref or (t, pos) >= ref[(u, i)][1:]:
            ref[(u, i)] = (r, t, pos)
    got = {(u, i): (r, t) for u, i, r, t in zip(inter.user_map.to_raw(inter.users).tolist(), inter.item_map.to_raw(inter.items).tolist(),
                                                inter.ratings.tolist(), inter.timestamps.tolist())}
    assert got == {k: (float(v[0]), v[1]) for k, v in ref.items()}
