"""python -m entra_emulator: run the emulator until interrupted and write <data-dir>/emulator.json."""
import argparse
import signal
import threading

from entra_emulator.server import Emulator


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m entra_emulator",
                                     description="Local fake of Entra ID sign-in/consent and Microsoft Graph.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--https-port", type=int, default=8443, help="API: identity endpoints, Graph, control")
    parser.add_argument("--http-port", type=int, default=8080, help="browser pages: consent, sign-in, logout")
    parser.add_argument("--data-dir", default="var/emulator")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--contacts", type=int, default=20)
    parser.add_argument("--portal-client-id")
    parser.add_argument("--portal-client-secret")
    parser.add_argument("--portal-redirect-uri", action="append", dest="portal_redirect_uris")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    emulator = Emulator(
        data_dir=args.data_dir, seed=args.seed, users=args.users, groups=args.groups, contacts=args.contacts,
        host=args.host, https_port=args.https_port, http_port=args.http_port,
        portal_client_id=args.portal_client_id, portal_client_secret=args.portal_client_secret,
        portal_redirect_uris=args.portal_redirect_uris, quiet=not args.verbose, persist_consents=True,
    ).start()
    facts = emulator.data_dir / "emulator.json"
    print(f"Entra emulator running. Facts: {facts}")
    print(f"  tenant     {emulator.tenant.display_name}  {emulator.tenant.id}  ({emulator.tenant.initial_domain})")
    print(f"  unlinked   {emulator.second_tenant.display_name}  {emulator.second_tenant.id}")
    print(f"  API        {emulator.login_url}   (authority {emulator.authority()}, Graph {emulator.graph_url}/v1.0)")
    print(f"  browser    {emulator.browser_url}")
    print(f"  CA         {emulator.ca_bundle}")
    print(f"  own app    {emulator.own_app.client_id}")
    print(f"  portal app {emulator.portal_app.client_id}  redirect URIs {emulator.portal_app.redirect_uris}")
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    emulator.stop()


if __name__ == "__main__":
    main()
