"""CLIP tokenization without the hub.  Pure (no torch).

I2VGen-XL's text encoder reads at most 77 tokens (75 after the start and end
markers); what lies beyond is silently cut.  To tell users exactly what gets
cut, and to give the tiny model the real tokenizer, this builds CLIP's BPE
tokenizer from the vocabulary file that the ``clip-anytorch`` package ships
(``bpe_simple_vocab_16e6.txt.gz``; only the file is read, the package is never
imported).  The hub's ``vocab.json``/``merges.txt`` are derived from that same
file: 256 byte symbols, the same with ``</w>``, the first 48,894 merges, then
``<|startoftext|>`` (49406) and ``<|endoftext|>`` (49407).

Without that file, a byte-level fallback (every UTF-8 byte one symbol, no
merges) keeps everything working; counts are then marked as estimates.
"""

from __future__ import annotations

import gzip
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

BOS = "<|startoftext|>"
EOS = "<|endoftext|>"
MAX_LENGTH = 77
CONTENT_TOKENS = MAX_LENGTH - 2
N_MERGES = 49152 - 256 - 2


def byte_alphabet() -> list[str]:
    """The reversible byte -> printable character table of GPT-2/CLIP BPE, in CLIP's order."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    codes, extra = list(keep), 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            codes.append(256 + extra)
            extra += 1
    return [chr(c) for c in codes]


def _bpe_file() -> Path | None:
    spec = importlib.util.find_spec("clip")  # locates the package without running its __init__
    for folder in (spec.submodule_search_locations or []) if spec else []:
        p = Path(folder) / "bpe_simple_vocab_16e6.txt.gz"
        if p.is_file():
            return p
    return None


def vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]], bool]:
    """(vocab, merges, exact): CLIP's real BPE when its file is installed, else the byte-level fallback."""
    alphabet = byte_alphabet()
    path = _bpe_file()
    merges: list[tuple[str, str]] = []
    if path is not None:
        lines = gzip.open(path, "rt", encoding="utf-8").read().split("\n")
        merges = [tuple(ln.split()) for ln in lines[1:N_MERGES + 1] if ln.strip()]
    tokens = alphabet + [a + "</w>" for a in alphabet] + ["".join(m) for m in merges] + [BOS, EOS]
    return {tok: i for i, tok in enumerate(tokens)}, merges, path is not None


@lru_cache(maxsize=1)
def clip_tokenizer():
    """A transformers CLIPTokenizer (real BPE when available); ``.exact`` says which."""
    from transformers import CLIPTokenizer
    from transformers.utils import logging

    logging.set_verbosity_error()  # "sequence longer than 77" is what token_report is for
    vocab, merges, exact = vocab_and_merges()
    tok = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=MAX_LENGTH)
    tok.exact = exact
    return tok


@dataclass
class TokenReport:
    tokens: int          # content tokens (without start/end markers)
    limit: int           # content tokens the encoder reads
    kept_text: str       # what the model sees
    cut_text: str        # what is silently dropped ("" when nothing)
    exact: bool          # False: byte-level estimate (CLIP's vocabulary file not installed)

    @property
    def truncated(self) -> bool:
        return self.tokens > self.limit


def token_report(prompt: str, tokenizer=None) -> TokenReport:
    tok = tokenizer or clip_tokenizer()
    ids = tok(prompt, add_special_tokens=False).input_ids
    kept, cut = ids[:CONTENT_TOKENS], ids[CONTENT_TOKENS:]
    return TokenReport(tokens=len(ids), limit=CONTENT_TOKENS, kept_text=tok.decode(kept).strip(),
                       cut_text=tok.decode(cut).strip(), exact=bool(getattr(tok, "exact", True)))
