"""Hostile model, fit and joints files: every bound of the loaders refuses its bomb.

Each bomb is built here (no files are committed) and loaded in a child process
whose address space is limited to 2 GiB. The child times its own load, so the
assertions are on loading, not on starting Python: it must fail in under a
second with a ValueError that names the file and the bound. Without the bounds,
most of these files took seconds to minutes (one never ended), up to the 2 GiB
limit or raised a bare MemoryError; the others failed by chance, with messages
naming neither the bound nor, for some, the file.
"""
import io
import json
import os
import pickle
import re
import struct
import subprocess
import sys

import numpy as np
import pytest
from test_body_model import _chumpy_pickle, assert_same_model

import neural_body_fitting as nbf
from neural_body_fitting.body import safe_pickle
from neural_body_fitting.data import up3d

REPO = os.path.dirname(os.path.dirname(os.path.abspath(nbf.__file__)))
CHILD = """
import json, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # Before NumPy is imported.
loader, path = sys.argv[1:]
if loader == "joints":
    from neural_body_fitting.data.up3d import read_joints as load
elif loader == "fit":
    from neural_body_fitting.body.safe_pickle import safe_load_pickle as load
else:
    from neural_body_fitting.body.body_model import load_body_model as load
error, start = None, time.perf_counter()
try:
    load(path)
except BaseException as caught:
    error = caught
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "error": error and type(error).__name__,
                  "message": str(error)}))
"""


def load_in_child(loader, path):
    """{'seconds', 'error', 'message'} of loading `path` with `loader` in a 2 GiB child."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-c", CHILD, loader, str(path)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"the child died ({done.returncode}): {done.stderr[-3000:]}"
    return json.loads(done.stdout.splitlines()[-1])


# --- A pickle assembler, for streams the pickler never writes ---------------------


def p_int(n):
    data = n.to_bytes(n.bit_length() // 8 + 1, "little", signed=True)
    return b"\x8a" + bytes([len(data)]) + data  # LONG1


def p_str(text):
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data  # BINUNICODE


def p_bytes(data):
    return b"B" + struct.pack("<I", len(data)) + data  # BINBYTES


def p_py2_str(data):
    return b"T" + struct.pack("<I", len(data)) + data  # BINSTRING: Python 2's str


def p_global(module, name):
    return f"c{module}\n{name}\n".encode()


def p_tuple(*items):
    return b"(" + b"".join(items) + b"t"


def p_list(*items):
    return b"](" + b"".join(items) + b"e"


def p_dict(items):
    return b"}(" + b"".join(p_str(key) + value for key, value in items.items()) + b"u"


def p_call(function, *args):
    return function + p_tuple(*args) + b"R"


def p_new(cls):
    return cls + b")\x81"  # cls.__new__(cls)


def p_build(obj, state):
    return obj + state + b"b"


def p_put(index):
    return b"r" + struct.pack("<I", index)


def p_get(index):
    return b"j" + struct.pack("<I", index)


def p_pickle(body):
    return b"\x80\x03" + body + b"."


def p_dtype(spec, byteorder="<", elsize=-1, flags=0):
    return p_build(p_call(p_global("numpy", "dtype"), p_str(spec), b"\x89", b"\x88"),
                   p_tuple(p_int(3), p_str(byteorder), b"N", b"N", b"N", p_int(elsize),
                           p_int(-1), p_int(flags)))


def p_array(shape, dtype, data):
    """An array as NumPy pickles it: _reconstruct, then BUILD with shape, dtype and data."""
    empty = p_call(p_global("numpy.core.multiarray", "_reconstruct"),
                   p_global("numpy", "ndarray"), p_tuple(p_int(0)), p_bytes(b"b"))
    return p_build(empty, p_tuple(p_int(1), p_tuple(*map(p_int, shape)), dtype, b"\x89", data))


def p_csc(**state):
    return p_build(p_new(p_global("scipy.sparse.csc", "csc_matrix")), p_dict(state))


REQUIRED = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table",
            "f")


def p_model(**values):
    """A model dict: the given values, and 0 for the other required keys."""
    return p_dict({key: values.get(key, p_int(0)) for key in REQUIRED} | values)


def npy_file(shape, data):
    """A .npy file of float64 whose header declares `shape`, followed by `data`."""
    stream = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        stream, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return stream.getvalue() + data


# --- The bombs ----------------------------------------------------------------------

ONE_ELEMENT = b"\0" * 8  # One float64: the data of arrays that declare billions.


def sparse_indptr_bomb():
    """A 24 x 1 csc matrix of one entry whose indptr says its column has 2**40."""
    one = p_bytes(ONE_ELEMENT)
    return p_pickle(p_model(J_regressor=p_csc(
        _shape=p_tuple(p_int(24), p_int(1)), data=p_array((1,), p_dtype("f8"), one),
        indices=p_array((1,), p_dtype("i8"), one),
        indptr=p_array((2,), p_dtype("i8"), p_bytes(struct.pack("<2q", 0, 2 ** 40))))))


def shared_lists(depth):
    """[[x, x], [x, x]] ... : `depth` levels of one list referenced twice (2**depth leaves)."""
    node = [0.0]
    for _ in range(depth):
        node = [node, node]
    return node


def shared_lists_filled_late(depth):
    """As `shared_lists`, but each list is put into its parent before it is filled."""
    body = b"".join(b"]" + p_put(k) + b"0" for k in range(depth + 1))
    body += p_get(0) + p_int(0) + b"a0"
    body += b"".join(p_get(k) + b"(" + p_get(k - 1) + p_get(k - 1) + b"e0"
                     for k in range(depth, 0, -1))
    return p_pickle(body + p_model(**{key: p_get(depth) for key in REQUIRED}))


def shared_tuple_key(depth):
    """{(t, t): 0} with t = (u, u), u = ...: hashing the key walks 2**depth tuples."""
    body = p_int(0) + b"\x85" + p_put(0) + b"0"
    body += b"".join(p_get(k - 1) + p_get(k - 1) + b"\x86" + p_put(k) + b"0"
                     for k in range(1, depth + 1))
    return p_pickle(body + b"}" + p_get(depth) + p_int(0) + b"s")


def shared_array(references, size):
    """A list holding `references` references to one array of `size` bytes."""
    array = p_array((size,), p_dtype("u1", "|"), p_bytes(b"\0" * size)) + p_put(0) + b"0"
    return p_pickle(array + p_model(v_template=b"](" + p_get(0) * references + b"e"))


def repeated_sets(count, size):
    """`count` calls of set() on one memoized list of `size` integers."""
    items = b"](" + b"".join(p_int(k) for k in range(size)) + b"e"
    body = p_global("__builtin__", "set") + p_put(0) + b"(" + items + b"t" + p_put(1) + b"R0"
    body += (p_get(0) + p_get(1) + b"R0") * count
    return p_pickle(body + b"N")


def repeated_conversions(count, size):
    """`count` calls of _codecs.encode on one memoized `size`-character string."""
    body = p_global("_codecs", "encode") + p_put(0) + p_tuple(p_str("\0" * size), p_str("latin1"))
    body += p_put(1) + b"R0" + (p_get(0) + p_get(1) + b"R0") * count
    return p_pickle(body + b"N")


def deep_lists(depth):
    """[[[...]]]: `depth` lists, each in the one before (protocol 2 has no recursion limit)."""
    body = b"]" * depth + b"a" * (depth - 1) + p_put(0)
    return b"\x80\x02" + body + p_model(**{key: p_get(0) for key in REQUIRED}) + b"."


def self_containing_list():
    """x = []; x.append(x): a cycle through the memo, infinitely deep."""
    body = b"]" + p_put(0) + p_get(0) + b"a0"
    return p_pickle(body + p_model(**{key: p_get(0) for key in REQUIRED}))


def deep_tuple_key(depth):
    """{((((None,),),),): 0} with `depth` tuples: hashing the key recurses on the C stack."""
    return b"\x80\x02}N" + b"\x85" * depth + b"K\x00s."


BOMBS = {
    # (a) declared sizes
    "array of 2**31 elements": (
        "body", lambda: p_pickle(p_model(v_template=p_array((2 ** 31,), p_dtype("f8"),
                                                            p_bytes(ONE_ELEMENT)))),
        r"array of 2147483648 elements exceeds the limit of 67108864"),
    "_reconstruct of 2**31 elements": (
        "body", lambda: p_pickle(p_model(v_template=p_call(
            p_global("numpy.core.multiarray", "_reconstruct"), p_global("numpy", "ndarray"),
            p_tuple(p_int(2 ** 31)), p_bytes(b"b")))),
        r"array of 2147483648 elements exceeds the limit of 67108864"),
    "sparse matrix of 2**32 elements": (
        "body", lambda: p_pickle(p_model(J_regressor=p_csc(
            _shape=p_tuple(p_int(2 ** 16), p_int(2 ** 16))))),
        r"array of 4294967296 elements exceeds the limit of 67108864"),
    "sparse indptr of 2**40 entries": (
        "body", sparse_indptr_bomb,
        r"J_regressor' is a malformed sparse matrix: indptr does not index its 1 entries"),
    "NumPy scalar of 2 GB": (
        "body", lambda: p_pickle(p_model(v_template=p_call(
            p_global("numpy.core.multiarray", "scalar"),
            p_dtype("V2000000000", "|", 2 * 10 ** 9)))),
        r"arrays and strings of 2000000000 bytes in total exceed the limit of 1073741824"),
    "30000 conversions of a 16 MiB string": (
        "fit", lambda: repeated_conversions(30000, 16 << 20),
        r"arrays and strings of \d+ bytes in total exceed the limit of 1073741824 bytes"),
    "4000 sets of 64000 items": (
        "fit", lambda: repeated_sets(4000, 64000),
        r"sets of \d+ items in total exceed the limit of 1048576 per file"),
    "file of 600 MiB": (
        "body", None, r"file of 629145600 bytes exceeds the limit of 536870912 bytes"),
    "200000 opcodes": (
        "fit", lambda: b"\x80\x02" + b"N0" * 100000 + b"N.",
        r"pickle of more than 131072 opcodes"),
    # (b) shared references
    "lists shared 30 levels deep": (
        "body", lambda: pickle.dumps(dict.fromkeys(REQUIRED, shared_lists(30)), protocol=2),
        r"pickle containers hold \d+ items with shared references expanded, more than the "
        r"limit of 1048576"),
    "lists shared 30 levels deep, filled late": (
        "body", lambda: shared_lists_filled_late(30),
        r"pickle containers hold \d+ items with shared references expanded, more than the "
        r"limit of 1048576"),
    "dict key of tuples shared 40 levels deep": (
        "fit", lambda: shared_tuple_key(40),
        r"pickle containers hold \d+ items with shared references expanded, more than the "
        r"limit of 1048576"),
    "array of 2**20 elements referenced 1000 times": (
        "body", lambda: shared_array(1000, 2 ** 20),
        r"arrays of \d+ elements with shared references expanded exceed the limit of 67108864"),
    # (c) tiny files that asked for all the memory there is
    "14 bytes: BINBYTES8 of 2**60 bytes": (
        "body", lambda: b"\x80\x04\x8e" + struct.pack("<Q", 2 ** 60) + b"\x94\x85.",
        r"expected 1152921504606846976 bytes in a bytes8, but only 3 remain"),
    "9 bytes: memo index 2**32 - 16": (
        "body", lambda: b"\x80\x02Nr" + struct.pack("<I", 2 ** 32 - 16) + b".",
        r"pickle memo index 4294967280 exceeds the limit of 131072"),
    # (d) nesting
    "lists nested 50000 deep": (
        "body", lambda: deep_lists(50000), r"pickle nesting deeper than 64"),
    "a list containing itself": (
        "body", self_containing_list, r"pickle nesting deeper than 64"),
    "dict key of tuples nested 100000 deep": (
        "fit", lambda: deep_tuple_key(100000), r"pickle nesting deeper than 64"),
    # (e) data that does not match its declaration
    "array data shorter than its shape": (
        "body", lambda: p_pickle(p_model(v_template=p_array((6890, 3), p_dtype("f8"),
                                                            p_bytes(b"\0" * 100)))),
        r"array data of 100 bytes does not match shape \(6890, 3\) of float64 \(165360 bytes\)"),
    "object array of 5 from a list of 2": (
        "body", lambda: p_pickle(p_model(v_template=p_array(
            (5,), p_dtype("O8", "|", flags=63), p_list(p_int(1), p_int(2))))),
        r"object arrays are not allowed"),
    # (f, g) UP-3D joints
    "joints header of 3 x 2**31": (
        "joints", lambda: npy_file((3, 2 ** 31), ONE_ELEMENT * 2),
        r"expected shape \(2, 14\) or \(3, 14\), got \(3, 2147483648\)"),
    "truncated joints": (
        "joints", lambda: npy_file((3, 14), b"\0" * 100),
        r"truncated: fewer than the 336 data bytes its header declares"),
}


def write_bomb(name, directory):
    loader, build, _ = BOMBS[name]
    path = os.path.join(directory, "bomb" + (".npy" if loader == "joints" else ".pkl"))
    with open(path, "wb") as stream:
        if build is None:  # The oversized file: sparse, it takes no disk space.
            stream.truncate(600 << 20)
        else:
            stream.write(build())
    return path


@pytest.mark.parametrize("name", BOMBS)
def test_bombs_are_refused_quickly_naming_the_file_and_the_bound(tmp_path, name):
    loader, _, bound = BOMBS[name]
    path = write_bomb(name, tmp_path)
    result = load_in_child(loader, path)
    assert result["error"] == "ValueError", result
    assert result["message"].startswith(path), result
    assert re.search(bound, result["message"]), result
    assert result["seconds"] < 1.0, result


# --- What the bounds must still let through -----------------------------------------


@pytest.mark.parametrize("chumpy", [False, True], ids=["plain", "chumpy"])
def test_a_real_size_model_loads_quickly_under_the_memory_limit(tmp_path, chumpy):
    model = nbf.synthetic_body_model()
    path = tmp_path / "model.pkl"
    if chumpy:
        path.write_bytes(_chumpy_pickle(model))
    else:
        nbf.save_body_model(model, path)
    result = load_in_child("body", path)
    assert result["error"] is None, result
    assert result["seconds"] < 1.0, result
    assert_same_model(nbf.load_body_model(path), model)


@pytest.mark.parametrize("string", [p_bytes, p_py2_str], ids=["bytes", "python-2 str"])
def test_the_assembler_writes_arrays_numpy_reads(string):
    data = np.arange(6.0).reshape(2, 3)
    stream = p_pickle(p_array((2, 3), p_dtype("f8"), string(data.tobytes())))
    np.testing.assert_array_equal(pickle.loads(stream, encoding="latin1"), data)
    np.testing.assert_array_equal(safe_pickle.unpickle(stream, "array.pkl"), data)


@pytest.mark.parametrize("stream,refusal", [
    (p_pickle(p_array((2,), p_dtype("f8"), p_bytes(b"\0" * 16)) + b")" + p_int(1) + b"s"),
     "SETITEM adds to a dict only, not to: object"),  # array[()] = 1 fills the whole array.
    (p_pickle(p_build(p_global("_codecs", "encode"), p_tuple(b"N", b"N", b"N", b"N"))),
     "BUILD sets up objects only, not globals"),  # It would rebind our stand-in.
    (p_pickle(p_call(p_global("numpy", "ndarray"), p_tuple(p_int(2 ** 31)))),
     "numpy.ndarray may only be rebuilt by _reconstruct"),
    (p_pickle(p_call(p_global("_codecs", "encode"), p_str("x"), p_str("zlib"))),
     "_codecs.encode is allowed only for latin1 text"),
    (p_pickle(p_call(p_global("__builtin__", "set"), p_list(p_tuple(p_int(1))))),
     "set\\(\\) items must be strings or numbers"),
    (p_pickle(p_list(*(p_new(p_global("chumpy.ch", f"Ch{k}")) for k in range(65)))),
     "more than 64 chumpy classes"),
])
def test_constructs_smpl_files_never_use_are_refused(stream, refusal):
    with pytest.raises(ValueError, match=f"^odd.pkl: .*{refusal}"):
        safe_pickle.unpickle(stream, "odd.pkl")


def test_a_dtype_changed_after_use_leaves_the_array_alone():
    # The dtype (memo 0) grows to 1 MiB items after an array of two 8-byte items
    # was made with it: with NumPy's own dtype the array would read 2 MiB of 16 bytes.
    grow = p_tuple(p_int(3), p_str("|"), b"N", b"N", b"N", p_int(1 << 20), p_int(1), p_int(0))
    array = p_array((2,), p_get(0), p_bytes(b"ab" * 8))
    stream = p_pickle(p_dtype("V8", "|", 8) + p_put(0) + b"0"
                      + p_list(array, p_build(p_get(0), grow)))
    array = safe_pickle.unpickle(stream, "dtype.pkl")[0]
    assert array.dtype.itemsize == 8 and array.tobytes() == b"ab" * 8


@pytest.mark.parametrize("shape,order", [((3, 14), "C"), ((2, 14), "C"), ((3, 14), "F")])
def test_joints_of_either_shape_and_order_are_read(tmp_path, shape, order):
    joints = np.asarray(np.arange(np.prod(shape), dtype=np.float64).reshape(shape), order=order)
    np.save(tmp_path / "joints.npy", joints)
    np.testing.assert_array_equal(up3d.read_joints(tmp_path / "joints.npy"), joints)


def test_joints_that_are_not_numbers_are_refused(tmp_path):
    np.save(tmp_path / "joints.npy", np.full((3, 14), "x"))
    with pytest.raises(ValueError, match=r"joints.npy: expected numbers, got dtype <U1"):
        up3d.read_joints(tmp_path / "joints.npy")
