from revshare.cli import main

main()
