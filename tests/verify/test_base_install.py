"""`revshare verify` runs with the base install only: no web server, database driver or engine."""

from __future__ import annotations

from tests.support.base_install import run_with_base_install_only


def test_verify_imports_without_the_server_dependencies() -> None:
    done = run_with_base_install_only("""
        import revshare.verify
        import revshare.cli.verify
        from typer.testing import CliRunner
        from revshare.cli import app
        result = CliRunner().invoke(app, ["verify", "receipt", "--help"])
        assert result.exit_code == 0, result.output
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        assert not loaded, loaded
        print("isolated ok")
    """)
    assert done.returncode == 0, done.stderr
    assert "isolated ok" in done.stdout


def test_verify_package_imports_only_the_pure_rooms() -> None:
    """tlog, settlement and the vocabulary they share: records (the leaf projection), instants."""
    import ast
    from pathlib import Path

    import revshare.verify

    root = Path(revshare.verify.__file__).parent
    for path in [*root.glob("*.py"), root.parent / "cli" / "verify.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                if module.startswith("revshare."):
                    assert module.split(".")[1] in {"tlog", "settlement", "records", "instants", "verify", "cli"}, (
                        path, module)
