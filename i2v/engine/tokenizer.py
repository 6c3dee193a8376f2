"""An offline CLIP tokenizer for the tiny model.

The real tokenizer's vocabulary (49,408 BPE tokens) comes from the hub with the
real model.  The tiny model needs one that works with no network: this builds
the CLIP byte-level BPE with only its base alphabet (each UTF-8 byte, alone and
as the last piece of a word) and no merges.  Text is tokenized character by
character the way CLIP does it (lower-cased, split into words, ``</w>`` ending
each word), so English and Chinese prompts both work, and ``<|startoftext|>`` /
``<|endoftext|>`` frame and pad the 77-token sequence exactly like the real one.
"""

from __future__ import annotations

from functools import lru_cache

from transformers import CLIPTokenizer

BOS = "<|startoftext|>"
EOS = "<|endoftext|>"
MAX_LENGTH = 77


def _byte_alphabet() -> list[str]:
    """GPT-2/CLIP's reversible byte -> printable unicode character table, in CLIP's order."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return [chr(c) for c in chars]


def offline_vocab() -> dict[str, int]:
    alphabet = _byte_alphabet()
    tokens = alphabet + [a + "</w>" for a in alphabet] + [BOS, EOS]
    return {tok: i for i, tok in enumerate(tokens)}


@lru_cache(maxsize=1)
def offline_clip_tokenizer() -> CLIPTokenizer:
    return CLIPTokenizer(vocab=offline_vocab(), merges=[], model_max_length=MAX_LENGTH)
