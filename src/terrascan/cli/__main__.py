from terrascan.cli import main

main()
