"""Context-aware fine-tuning (Shon et al., ICASSP 2023) and the context-injection baseline.

* :mod:`.module`: the context module (frames -> one vector c_t per segment) and its fusion
  into the frame features, so ESPnet's CTC or classification head follows unchanged;
* :mod:`.losses`: the auxiliary context loss (cosine, InfoNCE, L2) over neighbour pairs;
* :mod:`.model`: ``--model ctx_aware`` for the ASR (CTC) and CLS (sentiment) tasks;
* :mod:`.text_targets`: generative context's targets (sentence embeddings of the neighbours' text);
* :mod:`.diagnostics`: the figures of c_t that show a collapsing module;
* :mod:`.sampler`: ``--batch_type recording``, batches of consecutive segments of a recording;
* :mod:`.inject`: ``--frontend ssl_upstream_inject``, the upstream run on neighbours + segment,
  sliced back to the segment's frames.

The data files these read are written by :mod:`espnet2_ext.context.data`. What is
verified about the method and what is inferred: espnet2_ext/context/README.md, § Verified vs inferred.
"""

# Registered names (espnet2_ext.registration): --model ctx_aware, --frontend ssl_upstream_inject.
MODEL_NAME = "ctx_aware"
INJECT_FRONTEND = "ssl_upstream_inject"
# The model's context_source when a config names none (mode a: neighbours as training inputs).
DEFAULT_SOURCE = "neighbours"
# The neighbours used when a config names none: previous and next segment.
DEFAULT_OFFSETS = (-1, 1)
# Neighbour inputs exist for offsets up to this far (speech_prev .. speech_prev4, speech_next..).
MAX_OFFSET = 4


def neighbour_key(offset: int) -> str:
    """ESPnet data name of the neighbour audio at ``offset``: -1 speech_prev, 2 speech_next2."""
    if offset == 0 or abs(offset) > MAX_OFFSET:
        raise ValueError(f"neighbour offsets must be non-zero and within +-{MAX_OFFSET}: {offset}")
    side = "prev" if offset < 0 else "next"
    return f"speech_{side}" + (str(abs(offset)) if abs(offset) > 1 else "")


# Data names of the context inputs (training only): neighbour audio (mode "neighbours"), which of
# them exist (CTX_MASK), each segment's (recording number, index) (mode "batch"), and the text
# embedding of its neighbours' transcripts (generative context, mode "text").
NEIGHBOUR_KEYS = tuple(neighbour_key(s * k) for k in range(1, MAX_OFFSET + 1) for s in (-1, 1))
CTX_MASK = "ctx_mask"
POSITIONS = "utt2pos"
CTX_TEXT = "ctx_text"
CONTEXT_DATA_NAMES = NEIGHBOUR_KEYS + (CTX_MASK, POSITIONS, CTX_TEXT)
