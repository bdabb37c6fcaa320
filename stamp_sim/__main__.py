from stamp_sim.cli import main

main(prog_name="stamp-sim")
