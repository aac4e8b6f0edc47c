"""Speech clips for the language guard and the non-speech checks: espeak-ng English read many ways
(repeated, fast, slow, other voices, under noise or a music bed), German, Spanish and French, and
long stretches of noise, synthesised music and silence. Deterministic: seeded noise, fixed chords.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from tests.media import SAMPLE_RATE, espeak_samples, write_aac

EN_WEATHER = (
    "Good morning. Today we talk about the weather in London. It has been raining for three days, and people "
    "carry umbrellas wherever they go. Tomorrow the sun should shine again."
)
EN_TRAIN = (
    "The train to the coast leaves at nine o'clock. We will buy bread and cheese at the station, and we will eat "
    "by the sea if the wind is not too strong."
)
EN_CHORUS = "Welcome back to the show. Welcome back to the show."
EN_ANNOUNCEMENT = "Attention please. The train to Manchester is delayed by twenty minutes."
EN_UNUSUAL = "Seven purple giraffes recited the quadratic formula beneath a lighthouse in Reykjavik on Tuesday."
FOREIGN = {
    "de": ("Guten Morgen. Heute sprechen wir über das Wetter in Berlin. Es regnet seit drei Tagen, und die Menschen "
           "tragen überall Regenschirme.",
           "Der Zug an die Küste fährt um neun Uhr ab. Wir kaufen Brot und Käse am Bahnhof, und wir essen am Meer, "
           "wenn der Wind nicht zu stark ist."),
    "es": ("Buenos días. Hoy vamos a hablar de la comida en Madrid. Los restaurantes abren tarde y la gente cena a "
           "las diez de la noche.",
           "El tren a la costa sale a las nueve. Compraremos pan y queso en la estación, y comeremos junto al mar si "
           "el viento no es demasiado fuerte."),
    "fr": ("Bonjour. Aujourd'hui nous parlons du temps à Paris. Il pleut depuis trois jours, et les gens portent des "
           "parapluies partout.",
           "Le train pour la côte part à neuf heures. Nous achèterons du pain et du fromage à la gare, et nous "
           "mangerons au bord de la mer si le vent n'est pas trop fort."),
}
CHORDS = ((261.6, 329.6, 392.0), (220.0, 261.6, 329.6), (174.6, 220.0, 261.6), (196.0, 246.9, 293.7))
"""C, A minor, F, G: one a second, a pop progression's bed."""


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SAMPLE_RATE), dtype=np.int16)


def _int16(samples: np.ndarray) -> np.ndarray:
    return np.clip(np.round(samples), -32768, 32767).astype(np.int16)


def noise(seconds: float, level: float = 0.05, seed: int = 7) -> np.ndarray:
    """White noise at ``level`` of full scale (RMS)."""
    return _int16(np.random.default_rng(seed).normal(0.0, level * 32767, round(seconds * SAMPLE_RATE)))


def music(seconds: float, level: float = 0.25) -> np.ndarray:
    """Synthesised chords (:data:`CHORDS`) with a soft attack, one a second, peaking at ``level`` of full scale."""
    count = round(seconds * SAMPLE_RATE)
    t = np.arange(count) / SAMPLE_RATE
    out = np.zeros(count)
    for at in range(0, count, SAMPLE_RATE):
        span = t[at : at + SAMPLE_RATE]
        chord = CHORDS[(at // SAMPLE_RATE) % len(CHORDS)]
        attack = np.minimum(1.0, (span - span[0]) * 20)
        out[at : at + SAMPLE_RATE] = sum(np.sin(2 * np.pi * f * span) + 0.3 * np.sin(4 * np.pi * f * span) for f in chord) / 4 * attack
    return _int16(out * level * 32767)


def with_noise(speech: np.ndarray, snr_db: float, seed: int = 7) -> np.ndarray:
    """``speech`` with white noise added at ``snr_db`` signal-to-noise ratio."""
    power = float(np.mean(speech.astype(np.float64) ** 2))
    added = np.random.default_rng(seed).normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), len(speech))
    return _int16(speech + added)


def with_music(speech: np.ndarray, level: float = 0.2) -> np.ndarray:
    """``speech`` over a music bed (:func:`music`)."""
    return _int16(speech.astype(np.float64) + music(len(speech) / SAMPLE_RATE, level))


def say(text: str, voice: str = "en-us", words_per_minute: int = 140) -> np.ndarray:
    return espeak_samples(text, voice, words_per_minute)


def joined(*pieces: np.ndarray, pause: float = 0.8) -> np.ndarray:
    """Pieces one after another with ``pause`` seconds of silence between them."""
    out: list[np.ndarray] = []
    for piece in pieces:
        out.extend((piece, silence(pause)))
    return np.concatenate(out[:-1])


ENGLISH: dict[str, Callable[[], np.ndarray]] = {
    "plain": lambda: say(EN_WEATHER),
    "paragraph twice": lambda: joined(say(EN_WEATHER), say(EN_WEATHER)),
    "chorus x3": lambda: joined(say(EN_CHORUS), say(EN_CHORUS), say(EN_CHORUS)),
    "announcement x3": lambda: joined(say(EN_ANNOUNCEMENT), say(EN_ANNOUNCEMENT), say(EN_ANNOUNCEMENT)),
    "noise 10 dB": lambda: with_noise(say(EN_TRAIN), 10),
    "twice, noise 15 dB": lambda: with_noise(joined(say(EN_TRAIN), say(EN_TRAIN)), 15),
    "music bed": lambda: with_music(say(EN_TRAIN)),
    "fast (230 wpm)": lambda: say(f"{EN_WEATHER} {EN_TRAIN}", words_per_minute=230),
    "slow (90 wpm)": lambda: say(EN_TRAIN, words_per_minute=90),
    "voice en-gb": lambda: say(EN_TRAIN, "en-gb"),
    "voice en-us+f3": lambda: say(EN_WEATHER, "en-us+f3"),
    "voice en-gb-scotland": lambda: say(EN_TRAIN, "en-gb-scotland"),
    "unusual sentence": lambda: say(EN_UNUSUAL),
}
"""English read in ways that are still clearly English: none may be refused."""

OTHER: dict[str, Callable[[], np.ndarray]] = {
    f"{language} {number}": (lambda voice=language, text=text: say(text, voice))
    for language, texts in FOREIGN.items()
    for number, text in enumerate(texts, 1)
}
"""German, Spanish and French: an English-only model must refuse each."""


def clip_file(folder: Path, name: str, make: Callable[[], np.ndarray]) -> Path:
    """``make()``'s samples as an M4A under ``folder`` (made once, reused after)."""
    target = folder / (name.replace(" ", "-").replace("(", "").replace(")", "").replace(",", "") + ".m4a")
    if not target.is_file():
        write_aac(make(), target)
    return target
