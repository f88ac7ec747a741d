from aespec.cli import main

main()
