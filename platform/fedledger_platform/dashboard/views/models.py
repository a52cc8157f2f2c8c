"""The models page: every published model with its on-chain hash and publication, a download
that this dashboard checks against the chain before serving it, and how to check a model
independently from the command line."""

from __future__ import annotations

from fedledger_platform.dashboard.html import Html, esc
from fedledger_platform.dashboard.model import Snapshot
from fedledger_platform.dashboard.rows import model_points

__all__ = ["models_page"]


def _headline(s: Snapshot, model_hash: str) -> str:
    kept = s.metrics.get(model_hash)
    if kept is None or kept.evaluation is None:
        return '<span class="none">—</span>'
    e = kept.evaluation
    return f"{esc(e.headline)} {e.values.get(e.headline, float('nan')):.4f}"


def _verify(h: Html, s: Snapshot, number: int, model_hash: str) -> str:
    fed = s.federation
    assert fed is not None
    file = f"model-round-{number}.safetensors"
    keccak = (
        "python -c 'import sys; from Crypto.Hash import keccak; "
        'print("0x" + keccak.new(digest_bits=256, data=open(sys.argv[1], "rb").read())'
        f".hexdigest())' {file}"
    )
    lines = [
        f"curl -fsS -o {file} {fed.aggregator}/v1/models/{model_hash}",
        f"{keccak}   # must print {model_hash}",
    ]
    if number == 0:
        chain = "It must equal the base model hash the chain recorded for round 1."
    elif fed.rpc_url:
        lines += [
            f"fedledger federation status --rpc-url {fed.rpc_url} --deployment deployment.json "
            f"--json   # rounds[{number - 1}].published_model_hash",
            f"fedledger audit --rounds {number} --rpc-url {fed.rpc_url} --deployment "
            f"deployment.json --aggregator {fed.aggregator} --key auditor.json "
            "--passphrase-file auditor.pass   # every check of the round, the model's included",
        ]
        chain = (
            f"The hash must equal the one the ledger <code>{esc(fed.ledger)}</code> on chain "
            f"{fed.chain_id} published for round {number}, which the last two commands show."
        )
    else:
        chain = (
            "This federation runs on an embedded chain that only its own process can read, so "
            "the published hash above is the one this dashboard read from it."
        )
    commands = "\n".join(esc(line) for line in lines)
    return (
        "<p>Download the bytes from the aggregator and hash them with keccak-256 (Python with "
        f"<code>pycryptodome</code>, a fedledger dependency). {chain}</p>"
        f'<pre class="commands" id="verify-commands"><code>{commands}</code></pre>'
    )


def models_page(h: Html, s: Snapshot) -> str:
    """The models page's body."""
    points = model_points(s.rounds)
    by_number = {r.number: r for r in s.rounds}
    rows, ids = [], []
    for number, model_hash in reversed(points):
        r = by_number.get(number)
        download = h.url(f"/models/{model_hash}/download")
        direct = f"{s.federation.aggregator if s.federation else ''}/v1/models/{model_hash}"
        if number == 0 or r is None:
            origin = "initial model (round 1's base)"
            attested = "—"
            size = "—"
        else:
            origin = h.tx(r.transactions.get("publish"))
            votes = sum(1 for c in r.contributions if c.attested == model_hash)
            attested = f"{votes} of {len(r.included)} (quorum {r.quorum})"
            size = h.size(r.model_size)
        rows.append(
            [
                str(number),
                f'<code class="hash full" id="model-hash-{number}" data-hash="{esc(model_hash)}">'
                f"{esc(model_hash)}</code>",
                origin,
                attested,
                size,
                _headline(s, model_hash),
                f'<a class="download" id="download-{number}" href="{esc(download)}" download>'
                "download (checked)</a> · "
                f'<a class="direct" href="{esc(direct)}">from the aggregator</a>',
            ]
        )
        ids.append(f"model-{number}")
    table = h.table(
        ["round", "model hash (on chain)", "published in", "attested", "bytes", "test", "get it"],
        rows,
        css="models",
        row_ids=ids,
        empty="no model yet",
    )
    intro = (
        "<p>Every model the federation published, newest first. <em>download (checked)</em> "
        "fetches the bytes from the aggregator and serves them only if their keccak-256 equals "
        "the hash published on chain; the direct link serves whatever the aggregator stores.</p>"
    )
    verify = ""
    if points and s.federation is not None:
        number, model_hash = points[-1]
        verify = f"<section><h2>Check it yourself</h2>{_verify(h, s, number, model_hash)}</section>"
    return f"<section>{intro}{table}</section>{verify}"
