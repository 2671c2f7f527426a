"""Everyday snippets and whether the import lines the daemon suggests for them make them run.

Recall against held-out packages (`yantra-eval`) says how often the right module ranks first; this
says what an editor user sees on short everyday code: for each snippet the Predictor's
`code_suggestion`, executed in a fresh interpreter, must bind every name the snippet reads but does
not define, and every submodule it reads through them must be there (`logging.handlers` after
`import logging` alone is an AttributeError). A snippet whose names its own file should define
(`logger`, a variable `m`) must get nothing. Only the standard library, numpy and torch (the
`train` extra) are needed, so every verdict is executed, none is judged by eye.

    python -m training.import_snippets                  # the shipped checkpoint
    python -m training.import_snippets --checkpoint PATH
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from model.graph import build_graph
from model.prediction import import_lines
from model.predictor import SHIPPED_CHECKPOINT, Predictor

__all__ = ["SNIPPETS", "Snippet", "judge", "main"]


@dataclass(frozen=True)
class Snippet:
    name: str
    code: str
    needs_import: bool = True
    """False: the names are the code's own file's business (`logger`), so any suggestion is wrong."""


def _function(body: str, args: str = "x") -> str:
    return f"def f({args}):\n" + "".join(f"    {line}\n" for line in body.splitlines())


SNIPPETS: tuple[Snippet, ...] = (
    Snippet("csv.reader", _function("with open(x) as handle:\n    return list(csv.reader(handle))")),
    Snippet("json.dumps", _function("return json.dumps(x, indent=2)")),
    Snippet("os.path.join", _function("return os.path.join(os.getcwd(), x)")),
    Snippet("re.match", _function("return re.match(r'\\d+', x)")),
    Snippet("sys.argv", _function("return sys.argv[1:] + [x]")),
    Snippet("math.pi and sqrt", _function("return math.pi * sqrt(x)")),
    Snippet("pi * r ** 2", _function("return pi * x ** 2")),
    Snippet("log and sqrt", _function("return log(x) + sqrt(x)")),
    Snippet("sleep", _function("sleep(1)\nreturn x")),
    Snippet("randint", _function("return randint(0, x)")),
    Snippet("random.choice", _function("return random.choice(x)")),
    Snippet("deepcopy", _function("return deepcopy(x)")),
    Snippet("copy.deepcopy", _function("return copy.deepcopy(x)")),
    Snippet("Counter", _function("return Counter(x).most_common(3)")),
    Snippet("defaultdict", _function("groups = defaultdict(list)\nfor item in x:\n    groups[item[0]].append(item)\n"
                                     "return groups")),
    Snippet("datetime.now", _function("return datetime.now() - x")),
    Snippet("datetime.datetime.now", _function("return datetime.datetime.now() - x")),
    Snippet("timedelta", _function("return x + timedelta(days=1)")),
    Snippet("Path", _function("return Path(x).read_text()")),
    Snippet("typing names", _function("return x", args="x: Optional[List[Dict[str, Any]]]")),
    Snippet("dataclass field", "@dataclass\nclass Box:\n    items: list = field(default_factory=list)\n"),
    Snippet("a field named after its type", "@dataclass\nclass Event:\n    date: date\n    title: str = ''\n"),
    Snippet("a field named after a module", "@dataclass\nclass Run:\n"
                                            "    time: float = field(default_factory=time.time)\n"),
    Snippet("uuid4", _function("return str(uuid.uuid4()) + x")),
    Snippet("sqlite3", _function("return sqlite3.connect(x).cursor()")),
    Snippet("np.zeros", _function("return np.zeros((x, x))")),
    Snippet("numpy.linalg", _function("return numpy.linalg.norm(x)")),
    Snippet("torch's nn and F", "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                                "        self.fc = nn.Linear(4, 2)\n\n    def forward(self, x):\n"
                                "        return F.relu(self.fc(x))\n"),
    Snippet("subprocess.run", _function("return subprocess.run(x, capture_output=True).stdout")),
    Snippet("itertools.chain", _function("return list(itertools.chain.from_iterable(x))")),
    Snippet("partial", _function("return partial(print, x)")),
    Snippet("logging.getLogger", _function("logging.getLogger(__name__).info(x)")),
    Snippet("logging.handlers", _function("logging.getLogger().addHandler(logging.handlers.RotatingFileHandler(x))")),
    Snippet("urllib.request", _function("return urllib.request.urlopen(x).read()")),
    Snippet("urllib.parse.quote", _function("return urllib.parse.quote(x)")),
    Snippet("xml.etree", _function("return xml.etree.ElementTree.parse(x).getroot()")),
    Snippet("importlib.metadata", _function("return importlib.metadata.version(x)")),
    Snippet("email.mime", _function("return email.mime.text.MIMEText(x)")),
    Snippet("unittest.mock", _function("return unittest.mock.MagicMock(return_value=x)")),
    Snippet("concurrent.futures", _function("with concurrent.futures.ThreadPoolExecutor() as pool:\n"
                                            "    return list(pool.map(str, x))")),
    Snippet("collections.abc", _function("return isinstance(x, collections.abc.Mapping)")),
    Snippet("logger, the file's own", _function("logger.debug(x)"), needs_import=False),
    Snippet("m.group, a variable", _function("m = x\nreturn m.group(0), n.start()"), needs_import=False),
)
"""The standard library's everyday uses, numpy's and torch's usual aliases, and the submodule reads
that need an import of their own; then names a file defines for itself."""

_CHECK = """
import builtins, json, sys, types
names, chains = json.loads(sys.argv[1])
space = {}
exec(sys.argv[2], space)
missing = [n for n in names if n not in space and not hasattr(builtins, n)]
for name, chain in chains:
    value, path = space.get(name), name
    for part in chain.split("."):
        if not isinstance(value, types.ModuleType):
            break
        path += "." + part
        if not hasattr(value, part):
            missing.append(path)
            break
        value = getattr(value, part)
print(json.dumps(sorted(set(missing))))
"""


def judge(snippet: Snippet, suggestion: str) -> tuple[str, str]:
    """("right" | "wrong" | "none", why): whether `suggestion`, run in a fresh interpreter, binds every
    name `snippet` needs and every submodule it reads off them; for a snippet that needs nothing,
    any suggestion is wrong."""
    if not snippet.needs_import:
        return ("right", "") if not suggestion else ("wrong", "its own file's names need no import")
    if not suggestion:
        return "none", ""
    graph = build_graph(snippet.code, sites=False)
    reads = graph.attribute_reads()
    names = sorted(graph.free_names)
    chains = sorted((name, chain) for name in names for chain in reads.get(name, ()))
    done = subprocess.run([sys.executable, "-I", "-c", _CHECK, json.dumps([names, chains]), suggestion],
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        return "wrong", done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
    missing = json.loads(done.stdout)
    return ("wrong", "unbound: " + ", ".join(missing)) if missing else ("right", "")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.import_snippets", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(SHIPPED_CHECKPOINT), help="whose suggestions to judge")
    args = parser.parse_args(argv)
    predictor = Predictor(args.checkpoint)
    predictions = predictor.predict_sources([s.code for s in SNIPPETS])
    verdicts: Counter[str] = Counter()
    for snippet, prediction in zip(SNIPPETS, predictions, strict=True):
        suggestion = "\n".join(import_lines(prediction.imports))
        verdict, why = judge(snippet, suggestion)
        verdicts[verdict] += 1
        shown = suggestion.replace("\n", "; ") or "-"
        print(f"{verdict:<5}  {snippet.name:<24} {shown}{f'  ({why})' if why else ''}")
    print(f"{verdicts['right']} right, {verdicts['wrong']} wrong, {verdicts['none']} with nothing suggested "
          f"(of {len(SNIPPETS)}; {args.checkpoint})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
