"""``python -m interopgate.load``: the load process. gevent's monkey-patching comes
first, before any module opens or imports a socket (Locust requires it)."""

if __name__ == "__main__":
    from gevent import monkey

    monkey.patch_all()

    import sys

    from interopgate.load.run import main

    sys.exit(main(sys.argv[1:]))
