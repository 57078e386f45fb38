from appwatch.cli import main

main()
