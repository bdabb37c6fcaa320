"""CLI subcommands, one small module each: parse options, call the library, print."""

from stamp_sim.commands.calibrate import calibrate
from stamp_sim.commands.cost import cost
from stamp_sim.commands.models import models
from stamp_sim.commands.profiles import profiles
from stamp_sim.commands.run import run
from stamp_sim.commands.sensitivity import sensitivity
from stamp_sim.commands.sweep import sweep
from stamp_sim.commands.validate import validate

COMMANDS: list = [run, validate, profiles, cost, calibrate, sensitivity, models, sweep]
