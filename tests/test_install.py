"""The install path (scripts/install_torch.py, the shell commands, the Space's files) and the upload limit
as Gradio states it. Nothing here downloads anything: the install script runs with --dry-run, and the
package indexes it probes are servers on 127.0.0.1."""

from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import shlex
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import gradio
import pytest

from charrnn_app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "install_torch.py"

_spec = importlib.util.spec_from_file_location("install_torch", SCRIPT)
install_torch = sys.modules["install_torch"] = importlib.util.module_from_spec(_spec)  # dataclasses look it up
_spec.loader.exec_module(install_torch)


def dry_run(**env: str) -> tuple[list[str], str, float]:
    """(the pip command's arguments, the reason line, seconds taken) of `install_torch.py --dry-run`."""
    started = time.monotonic()
    out = subprocess.run([sys.executable, str(SCRIPT), "--dry-run"], capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin", **env}, timeout=30).stdout
    command, reason = out.splitlines()[:2]
    return shlex.split(command), reason, time.monotonic() - started


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens here once the socket is closed


@pytest.fixture
def cpu_index(tmp_path):
    """A package index on 127.0.0.1 with a page for torch, as PyTorch's CPU index has."""
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "index.html").write_text("<a href='torch-2.13.0+cpu-cp311-none-any.whl'>torch</a>")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_no_gpu_and_unreachable_index_falls_back_to_the_local_cpu_build_at_once():
    args, reason, seconds = dry_run(CHARRNN_GPU="0", CHARRNN_TORCH_INDEX=f"http://127.0.0.1:{closed_port()}/")
    assert args[-1] == "torch==2.13.0" and "--index-url" not in args, args
    assert "did not answer" in reason
    assert seconds < 5  # pip's own probe would wait up to 180 s per try here


def test_no_gpu_and_reachable_index_takes_the_cpu_build_from_it(cpu_index):
    args, reason, _ = dry_run(CHARRNN_GPU="0", CHARRNN_TORCH_INDEX=cpu_index)
    assert args[args.index("--index-url") + 1] == cpu_index
    assert "torch>=2.4" in args and "CPU build" in reason


def test_gpu_takes_the_cuda_build_from_pypi(cpu_index):
    args, reason, _ = dry_run(CHARRNN_GPU="1", CHARRNN_TORCH_INDEX=cpu_index)
    assert args[-1] == "torch>=2.4" and "--index-url" not in args
    assert "GPU" in reason


def test_the_default_index_is_pytorchs_cpu_index():
    assert install_torch.CPU_INDEX == "https://download.pytorch.org/whl/cpu"
    assert install_torch.PROBE_TIMEOUT <= 3


def test_an_index_that_never_answers_is_given_up_on_at_the_time_out():
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) but never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        started = time.monotonic()
        assert not install_torch.index_answers(f"http://127.0.0.1:{silent.getsockname()[1]}/", timeout=0.5)
        assert time.monotonic() - started < 2


def test_gpu_detection(tmp_path):
    absent = tmp_path / "no-driver"
    assert not install_torch.gpu_visible({}, proc_nvidia=absent, nvidia_smi="/bin/false")
    assert install_torch.gpu_visible({}, proc_nvidia=absent, nvidia_smi="/bin/true")  # nvidia-smi -L works
    assert install_torch.gpu_visible({}, proc_nvidia=tmp_path)  # the driver's /proc entry exists
    assert not install_torch.gpu_visible({"CHARRNN_GPU": "0"}, proc_nvidia=tmp_path)
    assert install_torch.gpu_visible({"CHARRNN_GPU": "1"}, proc_nvidia=absent, nvidia_smi="/bin/false")


def test_off_linux_pypi_is_already_the_cpu_build():
    chosen = install_torch.plan({}, gpu=False, platform="darwin")
    assert chosen.index_url is None and chosen.requirement == "torch>=2.4"


def test_the_readme_commands_and_ci_install_torch_through_the_script_first():
    for name in ("start.sh", "test.sh"):
        text = (ROOT / "scripts" / name).read_text()
        assert text.index("scripts/install_torch.py") < text.index("pip install"), name
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in ci and "pip install" not in ci


def test_requirements_keep_the_installed_cpu_build():
    """The same torch range everywhere, and installing requirements.txt after the script changes nothing
    about torch (pip keeps an installed torch that satisfies the range)."""
    requirements = (ROOT / "requirements.txt").read_text().splitlines()
    assert install_torch.TORCH in requirements
    space = (ROOT / "pre-requirements.txt").read_text().splitlines()
    assert f"--index-url {install_torch.CPU_INDEX}" in space and install_torch.TORCH in space
    report = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--report", "-",
                             "-r", str(ROOT / "requirements.txt")], capture_output=True, text=True, check=True,
                            timeout=120).stdout
    assert "torch" not in [item["metadata"]["name"] for item in json.loads(report)["install"]]


def gradio_size(n: float) -> str:
    """Gradio's front end formatting a byte count for its upload refusal ("jedec": 1024, one decimal)."""
    units = ["b", "Kb", "Mb", "Gb", "Tb"]
    i = 0
    while n >= 1024:
        n, i = n / 1024, i + 1
    return f"{n:.1f} {units[i]}"


def test_gradio_formats_the_upload_limit_in_units_of_1024():
    """Read in the installed Gradio: if this fails, its refusal message counts differently now."""
    assets = Path(gradio.__file__).parent / "templates" / "frontend" / "assets"
    source = next(p.read_text("utf-8", "replace") for p in sorted(assets.glob("*.js"))
                  if "exceed the maximum allowed size of" in p.read_text("utf-8", "replace"))
    assert "jedec:{radix:1024,unit:[`b`,`Kb`,`Mb`" in source
    assert "(e,t=1,n=`jedec`)" in source  # one decimal, jedec units unless told otherwise


@pytest.mark.parametrize("mb", ["10", "2.5", "1"])
def test_the_upload_limit_reads_the_same_in_the_page_readme_and_gradio(mb):
    settings = Settings.from_env({"CHARRNN_MAX_UPLOAD_MB": mb})
    assert settings.max_upload_text == f"{float(mb):g} MB"
    assert gradio_size(settings.max_upload_bytes) == f"{float(mb):.1f} Mb"  # "10.0 Mb", not "9.5 Mb"


def test_the_readme_states_the_default_upload_limit():
    row = next(line for line in (ROOT / "README.md").read_text().splitlines() if "`CHARRNN_MAX_UPLOAD_MB`" in line)
    assert row.rstrip(" |").endswith(f"| {Settings().max_upload_mb:g}") and "1024" in row


@pytest.mark.parametrize("params", [20_000_000, 1_000_000, 333_333])
def test_the_checkpoint_limit_is_gradios_one_limit_and_reads_the_same_everywhere(params):
    settings = Settings(max_params=params)
    mb = settings.max_checkpoint_text.removesuffix(" MB")
    assert settings.max_file_bytes == settings.max_checkpoint_bytes >= 4 * params  # a trained model fits
    assert gradio_size(settings.max_file_bytes) == f"{int(mb)}.0 Mb"  # Gradio's refusal: the page's number
    if params == 20_000_000:
        row = next(line for line in (ROOT / "README.md").read_text().splitlines() if "`CHARRNN_MAX_PARAMS`" in line)
        assert f"{mb} MB" in row and f'"{mb}.0 Mb"' in row
