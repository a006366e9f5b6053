"""Restricted, bounded unpickling of SMPL-format pickles, without chumpy or scipy.

An SMPL model file, as distributed, is a Python-2 pickle of a dict whose arrays
are partly chumpy objects and whose `J_regressor` is a scipy sparse matrix; a
UP-3D fit (`NNNNN_body.pkl`) is a pickle of arrays. Both are untrusted input.

`unpickle` resolves only the globals such files use, to stand-ins that rebuild
NumPy arrays, so a pickle cannot run code (one naming `os.system` is refused
before anything runs). It also bounds what a file can make us allocate or
compute, checking each bound before the work it protects:

- the file's size, before it is read (`read_file`);
- before unpickling, a pre-scan of the opcodes (`_Prescan`): their number, the
  memo indices, the lengths they declare against the bytes present, and the
  nesting depth and size of containers with shared references expanded (the
  memo lets a few bytes reference one container many times, "billion laughs");
- while unpickling, every array, sparse matrix, NumPy scalar, converted string
  and set is charged to the file's `_Budget` before it is made;
- after unpickling, `_check_structure` measures the result exactly: containers
  filled after they were shared escape the pre-scan.

Every refusal is a ValueError naming the file and the bound.
"""
import copyreg
import functools
import io
import math
import os
import pickle
import pickletools

import numpy as np
from numpy._core import multiarray  # NumPy >= 2 home of _reconstruct and scalar.

# Limits per file, far above what an SMPL model needs: its largest array,
# posedirs, has 6890 x 3 x 207 = 4.3 M elements; the file has about 40 MB in a
# few thousand opcodes.
MAX_FILE_BYTES = 512 << 20
MAX_OPCODES = 1 << 17
MAX_DEPTH = 64
# Items in containers, every shared reference counted again; items of sets.
MAX_OBJECTS = 1 << 20
# Elements of one array, and of all arrays with every shared reference counted
# again (what converting them all to float64 costs, / 8).
MAX_ARRAY_ELEMENTS = 64 << 20
# Bytes made by arrays, scalars and string conversions together: twice the
# file limit, because Python 3 writes an array's bytes in a protocol-2 pickle
# as a string that is converted (charged once) and copied into the array
# (charged again).
MAX_TOTAL_BYTES = 2 * MAX_FILE_BYTES
# Distinct chumpy classes one file may name (SMPL's use one or a few).
MAX_CHUMPY_CLASSES = 64


def _refuse(source, what):
    """Raises the refusal: an UnpicklingError naming the file, a ValueError once out of
    `unpickle` (UnpicklingError also passes through the C unpickler unchanged)."""
    raise pickle.UnpicklingError(f"{source}: {what}")


def read_file(path):
    """The bytes of file `path`, refused before reading if it is larger than MAX_FILE_BYTES."""
    with open(path, "rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        if size <= MAX_FILE_BYTES:
            raw = stream.read(MAX_FILE_BYTES + 1)  # Bounded even if the file grew meanwhile.
            size = len(raw)
    if size > MAX_FILE_BYTES:
        raise ValueError(f"{path}: file of {size} bytes exceeds the limit of {MAX_FILE_BYTES} "
                         "bytes")
    return raw


# --- Pre-scan of the opcodes ------------------------------------------------------


class _Node:
    """What the pre-scan knows of one object: its kind and, for a container, its
    size (1 + its items' sizes: shared references counted again) and depth."""

    __slots__ = ("kind", "size", "depth")

    def __init__(self, kind):
        self.kind, self.size, self.depth = kind, 1, 0


_MEMO_PUTS = {"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"}
_MEMO_GETS = {"GET", "BINGET", "LONG_BINGET"}
# Opcodes adding items to the container below them, and the kind it must be:
# on any other object the unpickler would call its `append`, `__setitem__` or
# `add` (e.g. fill a whole array on `array[()] = x`).
_ADDERS = {"APPEND": "list", "APPENDS": "list", "SETITEM": "dict", "SETITEMS": "dict",
           "ADDITEMS": "set"}
# Opcodes building a new container of the items they pop.
_BUILDERS = {"LIST": "list", "DICT": "dict", "TUPLE": "tuple", "TUPLE1": "tuple",
             "TUPLE2": "tuple", "TUPLE3": "tuple", "FROZENSET": "frozenset"}
# Opcodes pushing an empty container that later opcodes fill in place.
_EMPTY = {"EMPTY_LIST": "list", "EMPTY_DICT": "dict", "EMPTY_SET": "set"}
# Everything else pushes a node nothing changes, so one is shared: a global (one
# of our stand-ins, which BUILD must not change: functools.partial and
# functions take any state) or any other object.
_GLOBALS = {"GLOBAL", "STACK_GLOBAL", "EXT1", "EXT2", "EXT4"}
_GLOBAL, _OBJECT = _Node("global"), _Node("object")
# name -> (operands below the mark, or None without a mark; operands; results).
_EFFECTS = {op.name: (op.stack_before.index(pickletools.markobject)
                      if pickletools.markobject in op.stack_before else None,
                      len(op.stack_before), len(op.stack_after)) for op in pickletools.opcodes}


class _Prescan:
    """Runs the opcodes of a pickle on a stack of `_Node`s instead of objects.

    The unpickler hashes dict keys and set items, and a hash walks a tuple's
    items with every shared reference expanded (and recursively, on the C
    stack); so the total size of what goes into containers bounds that work
    too. Nodes of lists and dicts that are filled after being put into another
    container understate their parents' sizes; `_check_structure` sees those.
    """

    def __init__(self, source):
        self.source = source
        self.stack, self.marks, self.memo = [], [], {}
        self.items = 0  # Sizes put into containers so far.

    def run(self, raw):
        for count, (opcode, arg, _) in enumerate(pickletools.genops(raw), 1):
            if count > MAX_OPCODES:
                _refuse(self.source, f"pickle of more than {MAX_OPCODES} opcodes")
            self.step(opcode.name, arg)

    def step(self, name, arg):
        stack = self.stack
        if name in _MEMO_PUTS:
            index = len(self.memo) if name == "MEMOIZE" else arg
            if index > MAX_OPCODES:
                _refuse(self.source, f"pickle memo index {index} exceeds the limit of "
                                     f"{MAX_OPCODES}")
            self.memo[index] = stack[-1]
        elif name in _MEMO_GETS:
            stack.append(self.memo[arg])
        elif name == "MARK":
            self.marks.append(len(stack))
        elif name == "DUP":
            stack.append(stack[-1])
        elif name == "POP" and self.marks and self.marks[-1] == len(stack):
            self.marks.pop()  # POP right after MARK drops the mark (protocol 0).
        else:
            operands = self.pop_operands(name)
            if name in _ADDERS:
                container = operands[0]
                if container.kind != _ADDERS[name]:
                    _refuse(self.source, f"pickle opcode {name} adds to a {_ADDERS[name]} "
                                         f"only, not to: {container.kind}")
                stack.append(self.fill(container, operands[1:]))
            elif name in _BUILDERS:
                stack.append(self.fill(_Node(_BUILDERS[name]), operands))
            elif name == "BUILD":
                if operands[0].kind == "global":
                    _refuse(self.source, "pickle opcode BUILD sets up objects only, not "
                                         "globals")
                stack.append(operands[0])  # BUILD leaves the object it sets up.
            elif name in _EMPTY:
                stack.append(_Node(_EMPTY[name]))
            elif _EFFECTS[name][2]:  # Opcodes push one result at most, besides DUP.
                stack.append(_GLOBAL if name in _GLOBALS else _OBJECT)

    def pop_operands(self, name):
        """Pops what opcode `name` consumes: the items above its mark, and what lies below."""
        below_mark, count, _ = _EFFECTS[name]
        stack = self.stack
        start = len(stack) - count if below_mark is None else self.marks.pop() - below_mark
        if start < 0:
            raise IndexError("unpickling stack underflow")
        operands = stack[start:]
        del stack[start:]
        return operands

    def fill(self, container, items):
        if not items:
            return container
        added = sum(item.size for item in items)
        container.size += added
        container.depth = max(container.depth, 1 + max(item.depth for item in items))
        self.items += added
        if container.depth > MAX_DEPTH:
            _refuse(self.source, f"pickle nesting deeper than {MAX_DEPTH}")
        if self.items > MAX_OBJECTS:
            _refuse(self.source, _expansion_message(self.items))
        return container


def _expansion_message(count):
    return (f"pickle containers hold {count} items with shared references expanded, more "
            f"than the limit of {MAX_OBJECTS}")


# --- Budget and stand-ins ---------------------------------------------------------


class _Budget:
    """What one file has made so far; refuses what would pass a limit before it is made."""

    def __init__(self, source):
        self.source = source
        self.bytes = 0
        self.set_items = 0

    def refuse(self, what):
        _refuse(self.source, what)

    def charge_bytes(self, nbytes):
        self.bytes += nbytes
        if self.bytes > MAX_TOTAL_BYTES:
            self.refuse(f"arrays and strings of {self.bytes} bytes in total exceed the limit "
                        f"of {MAX_TOTAL_BYTES} bytes per file")

    def charge_array(self, shape, dtype):
        """Charges an array of `shape` and `dtype`; returns its number of elements."""
        if not isinstance(shape, tuple) or not all(
                isinstance(n, (int, np.integer)) and n >= 0 for n in shape):
            self.refuse("array shape must be a tuple of non-negative integers")
        count = math.prod(int(n) for n in shape)
        if count > MAX_ARRAY_ELEMENTS:
            self.refuse(f"array of {count} elements exceeds the limit of {MAX_ARRAY_ELEMENTS}")
        self.charge_bytes(count * dtype.itemsize)
        return count

    def charge_set(self, count):
        self.set_items += count
        if self.set_items > MAX_OBJECTS:
            self.refuse(f"sets of {self.set_items} items in total exceed the limit of "
                        f"{MAX_OBJECTS} per file")


class _Dtype:
    """Takes the place of numpy.dtype: pickled as numpy.dtype(spec, align, copy) and
    a BUILD with its state (byte order, item size of flexible types, flags).

    NumPy applies such a state in place, also to a dtype that arrays already use,
    which then read beyond their memory (a larger item size) or treat bytes as
    object pointers (flags). So the pickle never holds a real dtype: this
    stand-in keeps a clean one, rebuilt from the type string, for `_dtype`.
    """

    def __init__(self, spec, align=False, copy=True):
        if not isinstance(spec, str) or len(spec) > 32:
            raise pickle.UnpicklingError("numpy.dtype: expected a short type string")
        self.spec = spec
        self.dtype = np.dtype(spec)

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) < 5 or any(
                part is not None for part in state[2:5]):
            raise pickle.UnpicklingError(
                "numpy.dtype: only plain dtypes are supported (no fields or subarrays)")
        scratch = np.dtype(self.spec, False, True)  # A private copy NumPy may change.
        scratch.__setstate__(state)
        self.dtype = np.dtype(scratch.str)


def _dtype(value, budget):
    """The NumPy dtype of a `numpy.dtype` stand-in or a type code like 'b'; not object."""
    if isinstance(value, _Dtype):
        dtype = value.dtype
    elif isinstance(value, (str, bytes)) and len(value) <= 32:
        dtype = np.dtype(value)
    else:
        budget.refuse(f"expected a dtype, got {type(value).__name__}")
    if dtype.hasobject:
        budget.refuse("object arrays are not allowed")
    return dtype


class _Array(np.ndarray):
    """An ndarray being unpickled (a subclass per file, whose `budget` it charges).

    NumPy pickles an array as `_reconstruct(ndarray, (0,), 'b')` and a BUILD with
    its state (shape, dtype, Fortran order, raw bytes); `__setstate__` checks and
    charges that state before NumPy copies it in.
    """

    budget = None

    def __new__(cls, *args, **kwargs):
        # Called directly (REDUCE, NEWOBJ), numpy.ndarray would allocate any shape asked.
        raise pickle.UnpicklingError("numpy.ndarray may only be rebuilt by _reconstruct")

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            self.budget.refuse("malformed array state")
        shape, dtype, fortran, data = state[-4:]
        dtype = _dtype(dtype, self.budget)
        nbytes = self.budget.charge_array(shape, dtype) * dtype.itemsize
        if not isinstance(data, (bytes, str)):  # Python 2's str arrives as latin1 text.
            self.budget.refuse(f"array data must be bytes, got {type(data).__name__}")
        if len(data) != nbytes:
            self.budget.refuse(f"array data of {len(data)} bytes does not match shape "
                               f"{tuple(shape)} of {dtype} ({nbytes} bytes)")
        super().__setstate__((shape, dtype, fortran, data))


def _reconstruct(budget, array_class, subtype, shape, typecode):
    """numpy's `_reconstruct(ndarray, shape, typecode)`: the array BUILD then fills."""
    if subtype is not array_class:
        budget.refuse("_reconstruct may only rebuild numpy.ndarray")
    dtype = _dtype(typecode, budget)
    budget.charge_array(shape, dtype)
    return multiarray._reconstruct(array_class, shape, dtype)


def _scalar(budget, dtype, data=None):
    """numpy's `scalar(dtype, data)`: one element of `dtype` from its bytes."""
    dtype = _dtype(dtype, budget)
    budget.charge_bytes(dtype.itemsize)
    if data is None:
        return multiarray.scalar(dtype)
    if not isinstance(data, (bytes, str)) or len(data) != dtype.itemsize:
        budget.refuse(f"scalar data must be {dtype.itemsize} bytes")
    return multiarray.scalar(dtype, data)


def _encode(budget, text, encoding):
    """`_codecs.encode(text, 'latin1')`: how Python 3 writes bytes into protocol-2 pickles."""
    if not isinstance(text, str) or encoding != "latin1":
        budget.refuse("_codecs.encode is allowed only for latin1 text")
    budget.charge_bytes(len(text))  # Charged per call: a memo reference repeats it for free.
    return text.encode("latin1")


def _make_set(budget, kind, items):
    """`set(items)` or `frozenset(items)` of plain values, as protocols < 4 pickle sets."""
    if not isinstance(items, list):
        budget.refuse(f"{kind.__name__}() expects a list")
    budget.charge_set(len(items))
    if not all(isinstance(item, (str, bytes, int, float, type(None))) for item in items):
        budget.refuse(f"{kind.__name__}() items must be strings or numbers")
    return kind(items)


class _StandIn:
    """A chumpy object or sparse matrix being unpickled; `state` holds its pickled state."""

    state = None

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)


class _ChumpyStandIn(_StandIn):
    """Takes the place of any chumpy class while unpickling.

    chumpy objects pickle as NEWOBJ/BUILD with their `__dict__` as state; a
    plain `Ch` keeps its value under 'x'. Expressions (sums, products, ...)
    cannot be evaluated without chumpy and are reported as such.
    """

    chumpy_class = "chumpy.Ch"

    def __setstate__(self, state):
        self.state = state if isinstance(state, dict) else {"x": state}

    def to_array(self, key, source):
        if "x" in (self.state or {}):
            return to_array(self.state["x"], key, source)
        raise ValueError(
            f"{source}: key '{key}' is a chumpy expression ({self.chumpy_class}) that cannot "
            "be evaluated without chumpy; re-save the model with plain arrays")


class _SparseStandIn(_StandIn):
    """Takes the place of a scipy sparse matrix (a subclass per format and file)."""

    fmt = "csc"
    budget = None
    shape, dense_size = (0, 0), 0

    def __setstate__(self, state):
        if not isinstance(state, dict):
            self.budget.refuse("sparse matrix state must be a dict")
        # Charged as the dense array `to_array` makes of it; the shape is kept, as
        # the pickle may still change the dict it gave.
        shape = state.get("_shape", state.get("shape"))
        self.dense_size = self.budget.charge_array(shape, np.dtype(np.float64))
        self.shape = tuple(int(n) for n in shape)
        self.state = state

    def to_array(self, key, source):
        state = self.state
        try:
            dense = np.zeros(self.shape)
            if self.fmt == "coo":
                rows, cols, data = (to_array(state[k], key, source) for k in ("row", "col", "data"))
                np.add.at(dense, (rows.astype(np.int64), cols.astype(np.int64)), data)
                return dense
            data, indices, indptr = (to_array(state[k], key, source).astype(
                np.float64 if k == "data" else np.int64) for k in ("data", "indices", "indptr"))
            # indptr counts the entries of each row (column): they must add up to
            # the entries present, or np.repeat below would make as many as it says.
            if (indptr.ndim != 1 or indptr.size == 0 or indptr[0] != 0 or indptr[-1] != indices.size
                    or np.any(np.diff(indptr) < 0)):
                raise ValueError(f"indptr does not index its {indices.size} entries")
            major = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
            if self.fmt == "csc":
                np.add.at(dense, (indices, major), data)
            else:
                np.add.at(dense, (major, indices), data)
            return dense
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise ValueError(f"{source}: key '{key}' is a malformed sparse matrix: {error}")


def _allowed_globals(budget):
    """{(module, name): stand-in} for the globals SMPL and UP-3D pickles use."""
    array_class = type("ndarray", (_Array,), {"budget": budget})
    allowed = {
        ("numpy", "ndarray"): array_class,
        ("numpy", "dtype"): _Dtype,
        ("copyreg", "_reconstructor"): copyreg._reconstructor,
        ("copy_reg", "_reconstructor"): copyreg._reconstructor,
        # Python 3 writes bytes in protocol-2 pickles as _codecs.encode(text, 'latin1').
        ("_codecs", "encode"): functools.partial(_encode, budget),
    }
    # Python-2 module names as they appear in SMPL's files and in protocol-2 streams.
    for module in ("builtins", "__builtin__"):
        allowed.update({(module, "object"): object,
                        (module, "set"): functools.partial(_make_set, budget, set),
                        (module, "frozenset"): functools.partial(_make_set, budget, frozenset)})
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = functools.partial(_reconstruct, budget, array_class)
        allowed[(module, "scalar")] = functools.partial(_scalar, budget)
    for fmt in ("csc", "csr", "coo"):
        stand_in = type(f"{fmt}_matrix", (_SparseStandIn,), {"fmt": fmt, "budget": budget})
        for module in (f"scipy.sparse.{fmt}", f"scipy.sparse._{fmt}", "scipy.sparse"):
            allowed[(module, f"{fmt}_matrix")] = stand_in
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only allow-listed globals (see the module docstring)."""

    def __init__(self, file, source):
        super().__init__(file, encoding="latin1")
        self._source = source
        self._allowed = _allowed_globals(_Budget(source))
        self._chumpy = {}

    def find_class(self, module, name):
        if module == "chumpy" or module.startswith("chumpy."):
            return self._chumpy_class(module, name)
        if (module, name) in self._allowed:
            return self._allowed[(module, name)]
        _refuse(self._source, f"refusing to load global '{module}.{name}': only NumPy arrays, "
                              "scipy sparse matrices and chumpy arrays are allowed in a "
                              "body-model pickle")

    def _chumpy_class(self, module, name):
        if (module, name) not in self._chumpy:
            if len(self._chumpy) >= MAX_CHUMPY_CLASSES:
                _refuse(self._source, f"more than {MAX_CHUMPY_CLASSES} chumpy classes")
            self._chumpy[(module, name)] = type(name, (_ChumpyStandIn,),
                                                {"chumpy_class": f"{module}.{name}"})
        return self._chumpy[(module, name)]


# --- The unpickled structure ------------------------------------------------------


def _children(value):
    if isinstance(value, dict):
        return [*value.keys(), *value.values()]
    if isinstance(value, (list, tuple, set, frozenset)):
        return value
    if isinstance(value, _StandIn) and value.state is not None:
        return (value.state,)
    return ()


def _own_elements(value):
    if isinstance(value, np.ndarray):
        return value.size
    return value.dense_size if isinstance(value, _SparseStandIn) else 0


def _check_structure(data, source):
    """Refuses a result nested deeper than MAX_DEPTH (or cyclic), or whose containers
    and arrays, with every shared reference counted again, pass MAX_OBJECTS items or
    MAX_ARRAY_ELEMENTS elements: what converting it with np.asarray would expand.

    Each distinct object is measured once, so this costs what unpickling did.
    """
    measured = {}  # id -> (items, elements) of the objects measured so far.

    def measure(value, depth):
        if id(value) in measured:
            return measured[id(value)]
        children = _children(value)
        if children and depth >= MAX_DEPTH:  # Also ends a cycle, which has no measure yet.
            _refuse(source, f"pickle nesting deeper than {MAX_DEPTH}")
        items, elements = len(children), _own_elements(value)
        for child in children:
            child_items, child_elements = measure(child, depth + 1)
            items, elements = items + child_items, elements + child_elements
            if items > MAX_OBJECTS:
                _refuse(source, _expansion_message(items))
            if elements > MAX_ARRAY_ELEMENTS:
                _refuse(source, f"arrays of {elements} elements with shared references "
                                f"expanded exceed the limit of {MAX_ARRAY_ELEMENTS}")
        measured[id(value)] = items, elements
        return items, elements

    measure(data, 0)


# --- Entry points -----------------------------------------------------------------


def unpickle(raw, source):
    """Unpickles `raw`, the bytes of file `source`, within the bounds of this module.

    Raises:
      ValueError: naming `source` and the bound passed, the global refused, or
        what is damaged; also when the memory asked for is not available.
    """
    try:
        _Prescan(source).run(raw)
        data = _RestrictedUnpickler(io.BytesIO(raw), source).load()
        _check_structure(data, source)
        return data
    except pickle.UnpicklingError as error:
        message = str(error)
        if not message.startswith(source):  # Our refusals already name the file.
            message = f"{source}: not a readable pickle ({message})"
        raise ValueError(message) from error
    except MemoryError as error:
        raise ValueError(f"{source}: not a readable pickle (it asks for more memory than is "
                         "available)") from error
    except Exception as error:  # noqa: BLE001 - whatever a damaged stream raises.
        raise ValueError(f"{source}: not a readable pickle (truncated or damaged: "
                         f"{type(error).__name__}: {error})") from error


def to_array(value, key, source):
    """An unpickled value as a plain NumPy array; raises ValueError naming the key."""
    if isinstance(value, (_ChumpyStandIn, _SparseStandIn)):
        return value.to_array(key, source)
    if isinstance(value, np.ndarray):
        return np.asarray(value)  # A plain ndarray view of the unpickled one.
    try:
        # Lists as float64: left to guess, NumPy pads a list of strings to the longest.
        return np.asarray(value, np.float64)
    except (TypeError, ValueError, OverflowError) as error:
        raise ValueError(f"{source}: key '{key}' is not an array ({type(value).__name__})") \
            from error


def safe_load_pickle(path):
    """Loads a pickle of arrays (e.g. an SMPL fit) with the restricted, bounded unpickler.

    Arrays, chumpy arrays and sparse matrices among the values of a dict come
    back as NumPy arrays; any other global is refused.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: file does not exist")
    data = unpickle(read_file(path), path)
    if isinstance(data, dict):
        return {key: to_array(value, key, path) if isinstance(
            value, (np.ndarray, _StandIn)) else value for key, value in data.items()}
    return data
