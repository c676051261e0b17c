from dipstick.cli import main

main()
