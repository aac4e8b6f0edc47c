"""Languages: word error rate per language for Whisper ``base`` against ``tiny.en``, their speed on the
same 5-minute clip (batched on both), and the peak memory of each.

    python -m bench.bench_languages [--minutes 5] [--repeats 2]

Speech is synthesised by espeak-ng (``make test`` installs it) from the paragraphs below, two per
language, read at 140 words a minute; each language's clip is transcribed by both models through the
server's own decoding entry point (:func:`reelscribe.server.asr.transcribe`, batched, beam 5) with
``--language auto``, so ``base`` detects every window's language and ``tiny.en`` checks its output.
Printed per language and model: the detected language, the word error rate against the text, and
the mean token log-probability (what the English-only check reads). Then the speed of each model on
the 5-minute English clip of ``bench_asr`` (audio seconds per wall second, interleaved ``--repeats``
times; ``base`` with ``auto``, which adds the detection pass, and with ``--language en``), and each
model's peak RSS, every model measured in a fresh child process. Needs the multilingual extra.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import OUT, machine_line, save_result
from tests.media import speech_clip
from tests.server.wer import word_error_rate

SPEECH = OUT / "speech-languages"
PARAGRAPHS: dict[str, tuple[str, list[str]]] = {
    "en": ("en-us", [
        "Good morning. Today we talk about the weather in London. It has been raining for three days, and people "
        "carry umbrellas wherever they go. Tomorrow the sun should shine again.",
        "The train to the coast leaves at nine o'clock. We will buy bread and cheese at the station, and we will "
        "eat by the sea if the wind is not too strong.",
    ]),
    "de": ("de", [
        "Guten Morgen. Heute sprechen wir über das Wetter in Berlin. Es regnet seit drei Tagen, und die Menschen "
        "tragen überall Regenschirme. Morgen soll die Sonne wieder scheinen.",
        "Der Zug an die Küste fährt um neun Uhr ab. Wir kaufen Brot und Käse am Bahnhof, und wir essen am Meer, "
        "wenn der Wind nicht zu stark ist.",
    ]),
    "es": ("es", [
        "Buenos días. Hoy vamos a hablar de la comida en Madrid. Los restaurantes abren tarde y la gente cena a "
        "las diez de la noche. Mañana visitaremos el mercado.",
        "El tren a la costa sale a las nueve. Compraremos pan y queso en la estación, y comeremos junto al mar si "
        "el viento no es demasiado fuerte.",
    ]),
    "fr": ("fr", [
        "Bonjour. Aujourd'hui nous parlons du temps à Paris. Il pleut depuis trois jours, et les gens portent des "
        "parapluies partout. Demain le soleil devrait briller de nouveau.",
        "Le train pour la côte part à neuf heures. Nous achèterons du pain et du fromage à la gare, et nous "
        "mangerons au bord de la mer si le vent n'est pas trop fort.",
    ]),
    "it": ("it", [
        "Buongiorno. Oggi parliamo del tempo a Roma. Piove da tre giorni, e la gente porta l'ombrello dappertutto. "
        "Domani il sole dovrebbe splendere di nuovo.",
        "Il treno per la costa parte alle nove. Compreremo pane e formaggio alla stazione, e mangeremo vicino al "
        "mare se il vento non è troppo forte.",
    ]),
}
MODELS = ("tiny.en", "base")


def language_clip(language: str) -> tuple[Path, str]:
    voice, texts = PARAGRAPHS[language]
    target = SPEECH / f"{language}.m4a"
    if not target.is_file():
        speech_clip(target, [(voice, text) for text in texts])
    return target, " ".join(texts)


def _child(model_name: str, mode: str, argument: str, repeats: int) -> dict:
    """Run one measurement in a fresh process (so its peak RSS is its own) and return its JSON."""
    command = [sys.executable, "-m", "bench.bench_languages", "--child", model_name, mode, argument, str(repeats)]
    done = subprocess.run(command, check=True, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return json.loads(done.stdout.strip().splitlines()[-1])


def _run_child(model_name: str, mode: str, argument: str, repeats: int) -> None:
    """In the child: load the model, then either transcribe the language clips or time the long clip."""
    from reelscribe.server.asr import AsrEngine, AsrSettings, transcribe
    from reelscribe.server.config import ServerConfig
    from reelscribe.server.models import resolve_model

    config = ServerConfig(data_dir=Path(tempfile.gettempdir()), api_keys=("k",))
    resolved = resolve_model(model_name, config.model_cache_dir)
    model = AsrEngine(AsrSettings(model=resolved.path, cpu_threads=os.cpu_count() or 1)).load()
    figures: dict = {"model": model_name}
    if mode == "languages":
        for language in argument.split(","):
            path, text = language_clip(language)
            try:
                segments, _ = transcribe(model, path)
            except Exception as exc:  # tiny.en refusing non-English speech is a result, not a crash
                figures[language] = {"refused": type(exc).__name__}
                continue
            hypothesis = " ".join(s["value"] for s in segments)
            figures[language] = {
                "wer": round(word_error_rate(text, hypothesis), 3),
                "detected": sorted({s["language"] for s in segments}),
                "text": hypothesis,
            }
        figures["logprob"] = {language: _mean_logprob(model, language_clip(language)[0]) for language in argument.split(",")}
    else:
        speeds = []
        for _ in range(repeats):
            started = time.perf_counter()
            _, duration = transcribe(model, argument, language=mode)
            speeds.append(duration / (time.perf_counter() - started))
        figures["speeds"] = speeds
    figures["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(figures))


def _mean_logprob(model, path: Path) -> float:
    from faster_whisper import BatchedInferencePipeline

    found, _ = BatchedInferencePipeline(model).transcribe(str(path), beam_size=5, batch_size=16, language=None)
    found = list(found)
    seconds = sum(s.end - s.start for s in found) or 1.0
    return round(sum(s.avg_logprob * (s.end - s.start) for s in found) / seconds, 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_languages", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _run_child(args.child[0], args.child[1], args.child[2], int(args.child[3]))
        return 0
    from bench.bench_asr import long_clip

    print(machine_line(), f"load average {os.getloadavg()[0]:.1f}")
    languages = ",".join(PARAGRAPHS)
    for language in PARAGRAPHS:
        language_clip(language)
    accuracy = {model: _child(model, "languages", languages, 1) for model in MODELS}
    print(f"{'language':<9}" + "".join(f"{model + ' WER':>14}{'detected':>10}{'logprob':>9}" for model in MODELS))
    for language in PARAGRAPHS:
        cells = []
        for model in MODELS:
            found = accuracy[model][language]
            wer = f"{found['wer']:.3f}" if "wer" in found else "refused"
            cells.append(f"{wer:>14}{','.join(found.get('detected', ['-'])):>10}{accuracy[model]['logprob'][language]:>9.2f}")
        print(f"{language:<9}" + "".join(cells))
    clip = long_clip(args.minutes)
    speed: dict[str, list[float]] = {"tiny.en": [], "base auto": [], "base en": []}
    rss: dict[str, float] = {}
    for _ in range(args.repeats):  # interleaved, so that the machine's load hits all alike
        for label, model, mode in (("tiny.en", "tiny.en", "auto"), ("base auto", "base", "auto"), ("base en", "base", "en")):
            found = _child(model, mode, str(clip.path), 1)
            speed[label] += found["speeds"]
            rss[label] = max(rss.get(label, 0.0), found["peak_rss_mib"])
    best = {label: max(values) for label, values in speed.items()}
    for label in speed:
        print(f"{label:<10} {best[label]:6.1f}x real time (best of {args.repeats}), "
              f"{best['tiny.en'] / best[label]:.2f}x the time of tiny.en, peak RSS {rss[label]:.0f} MiB")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    save_result("bench_languages", {"accuracy": accuracy, "speed": speed, "peak_rss_mib": rss, "clip": str(clip.path)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
